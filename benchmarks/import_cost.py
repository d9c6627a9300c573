"""What `sweepfirst status` and `sweepfirst --help` cost to start, as a ratio to importing torch and
transformers, measured in one run so that the machine's load cancels out.

    python benchmarks/import_cost.py [--repeats 7] [--top 12]

Each figure is the median wall time of ``--repeats`` fresh processes, run interleaved (status,
help, torch+transformers, status, ...) so a change in load hits all of them alike. `status` runs
on an empty state dir: the path that answers "no state here" after loading the command line.
Target (issue 18): status <= 0.2x the torch+transformers import. With ``--top N`` the N slowest
sweepfirst-side imports of `status` (``python -X importtime``, cumulative) are listed too, so a
regression names its cause. Prints the load average before and after; say what else ran.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.2


def _wall_seconds(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def _slowest_imports(argv: list[str], cwd: Path, top: int) -> list[tuple[str, float]]:
    """The ``top`` imports with the largest cumulative time, top-level ones only (not their parts)."""
    done = subprocess.run([sys.executable, "-X", "importtime", *argv[1:]], cwd=cwd, capture_output=True,
                          text=True, check=False)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if cumulative.strip().isdigit() and not name.startswith("  "):
            rows.append((name.strip(), int(cumulative) / 1e6))
    return sorted(rows, key=lambda row: -row[1])[:top]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--top", type=int, default=12, help="list the N slowest imports of `status` (0: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        empty_state = cwd / "state"
        empty_state.mkdir()
        env_free = {k: v for k, v in os.environ.items() if not k.startswith("SWEEPFIRST_")}
        os.environ.clear()
        os.environ.update(env_free)
        commands = {
            "status": [sys.executable, "-m", "sweepfirst.cli.app", "status", "--state-dir", str(empty_state)],
            "help": [sys.executable, "-m", "sweepfirst.cli.app", "--help"],
            "torch+transformers": [sys.executable, "-c", "import torch, transformers"],
            "python": [sys.executable, "-c", "pass"],
        }
        load_before = os.getloadavg()
        for argv in commands.values():  # warm the file cache once, uncounted
            _wall_seconds(argv, cwd)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, argv in commands.items():
                times[name].append(_wall_seconds(argv, cwd))
        load_after = os.getloadavg()
        slowest = _slowest_imports(commands["status"], cwd, args.top) if args.top else []
    median = {name: statistics.median(values) for name, values in times.items()}
    heavy = median["torch+transformers"]
    result = {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "nice": os.nice(0),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "repeats": args.repeats,
        "median_s": {name: round(value, 3) for name, value in median.items()},
        "min_s": {name: round(min(values), 3) for name, values in times.items()},
        "status_ratio": round(median["status"] / heavy, 3),
        "help_ratio": round(median["help"] / heavy, 3),
        "target_ratio": TARGET_RATIO,
        "slowest_status_imports_s": {name: round(seconds, 3) for name, seconds in slowest},
    }
    print(json.dumps(result, indent=2))
    return 0 if result["status_ratio"] <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
