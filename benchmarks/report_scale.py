"""The report of a large sweep: how long `sweepfirst report` takes for a run with ``--trials`` sweep trials.

The run is recorded through the store API by the report tests' hand-made run
(tests/report/recorded_run.py: MRPC, full fine-tuning and LoRA, production seeds 1-3 with
baselines, job folders written as training writes them), with its sweep widened to ``--trials``
trials split between the two methods (every tenth LoRA trial pruned, one in fifty failed). Timed:
building the report data from the database and job folders, and writing the HTML report with its
plots -- what the run's coordinator does in its report phase.

    python benchmarks/report_scale.py --trials 1000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "report"))

import recorded_run

from sweepfirst.analysis.report.step2_build import build_report_data
from sweepfirst.analysis.report.step5_write import write_run_report
from sweepfirst.states import JobEvent


def widen(trials: int) -> None:
    """Give the recorded run ``trials`` sweep trials (half per method), keeping its chosen ones."""
    half = trials // 2
    ft = [(1e-5 + i * 1e-7, 0.70 + (i % 97) / 1000, JobEvent.SUCCEEDED) for i in range(half)]
    lora = [(1e-4 + i * 1e-6, None if i % 50 == 49 else 0.65 + (i % 89) / 1000,
             JobEvent.FAILED if i % 50 == 49 else JobEvent.PRUNED if i % 10 == 9 else JobEvent.SUCCEEDED)
            for i in range(trials - half)]
    recorded_run.TRIALS.clear()
    recorded_run.TRIALS.update({"full_finetune": ft, "lora": lora})
    methods = recorded_run.WORKFLOW["methods"]
    for method, rows in recorded_run.TRIALS.items():
        sweep = methods[method]["sweep"]
        sweep["parameters"]["learning_rate"] = {"values": [r[0] for r in rows]}
        sweep["run_cap"] = len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    widen(args.trials)
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        run = recorded_run.record_run(Path(tmp) / "state")
        recorded_s = time.perf_counter() - began
        began = time.perf_counter()
        data = build_report_data(run.ctx, run.run_id)
        built_s = time.perf_counter() - began
        began = time.perf_counter()
        path = write_run_report(data, Path(tmp) / "report", "html")
        written_s = time.perf_counter() - began
        size = Path(path).stat().st_size if Path(path).is_file() else None
    results = {"trials": args.trials, "record_s": round(recorded_s, 1), "build_report_data_s": round(built_s, 2),
               "write_html_s": round(written_s, 2), "report_total_s": round(built_s + written_s, 2),
               "html_bytes": size, "cpus": os.cpu_count(), "load_average": os.getloadavg()}
    print(json.dumps(results, indent=2))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
