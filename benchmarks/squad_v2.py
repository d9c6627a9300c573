"""SQuAD 2.0 quality check: the offline MiniLM fine-tuned on real SQuAD 2.0 questions, on CPU.

Only the official dev set is available offline (``shared/data/squad_v2/dev-v2.0.json``), so the
job uses sweepfirst's fixed by-article cut of it (see ``training/qa_splits.py``): about 80% of the
articles to train on, the other 20% to score on, no article on both sides. It trains one
production-style job (``evaluation="dev"``) through ``run_training`` -- the same code a workflow
runs -- and prints the official SQuAD 2.0 scores next to the trivial baseline that answers "no
answer" to every question (its EM and F1 equal the share of unanswerable questions).

    python benchmarks/squad_v2.py                                   # ~10 minutes on 2 CPU cores
    python benchmarks/squad_v2.py --train-questions 400 --eval-questions 200   # a quick look
    python benchmarks/squad_v2.py --json benchmarks/out/squad_v2.json --output-dir /tmp/squad-bench

The numbers are not comparable with published SQuAD 2.0 results, which train on the official
train set (130k questions, several epochs) and score the whole dev set.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
SHOWN = ("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1")


def _default_data_dir() -> Path:
    return Path(os.environ.get("SWEEPFIRST_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=_default_data_dir(),
                        help="folder with squad_v2/dev-v2.0.json (or next to one)")
    parser.add_argument("--model", default="bundled-minilm")
    parser.add_argument("--method", default="full_finetune", choices=["full_finetune", "lora"])
    parser.add_argument("--train-questions", type=int, default=2000)
    parser.add_argument("--eval-questions", type=int, default=1000)
    parser.add_argument("--max-seq-length", type=int, default=384)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                        help="bf16: mixed precision (fast on CPUs with AMX, e.g. Sapphire Rapids)")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="keep the job folder (checkpoints, train.log, predictions.jsonl) here; "
                             "the same command then resumes an interrupted run "
                             "(default: a temporary folder, no checkpoints)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return parser.parse_args()


def baseline_scores(request: Any) -> dict[str, float]:
    """The official metric for answering "" to every question of the job's eval split."""
    from sweepfirst.squad_v2_metric import evaluate
    from sweepfirst.training.qa.dataset import dataset_to_articles
    from sweepfirst.training.qa.splits import load_qa_splits
    from sweepfirst.training.splits import SplitRecipe

    questions = load_qa_splits(request.data_dir, SplitRecipe.from_request(request)).eval
    scores = evaluate(dataset_to_articles(questions), {qid: "" for qid in questions["id"]})
    return {key: float(value) for key, value in scores.items()}


def main() -> None:
    args = parse_args()
    from sweepfirst.training import TrainingRequest
    from sweepfirst.training.runner import run_training

    hyperparameters: dict[str, Any] = {
        "learning_rate": args.learning_rate,
        "per_device_train_batch_size": args.batch_size,
        "num_train_epochs": args.epochs,
        "warmup_ratio": 0.1,
    }
    if args.method == "lora":
        hyperparameters.update(lora_r=16, lora_alpha=32, lora_dropout=0.1)
    with tempfile.TemporaryDirectory(prefix="squad-bench-") as scratch:
        output_dir = args.output_dir or Path(scratch) / "job"
        request = TrainingRequest(
            task="squad_v2",
            method=args.method,
            hyperparameters=hyperparameters,
            seed=args.seed,
            model=args.model,
            output_dir=output_dir,
            evaluation="dev",
            data_dir=args.data_dir,
            max_train_samples=args.train_questions,
            max_eval_samples=args.eval_questions,
            max_seq_length=args.max_seq_length,
            save_checkpoints=args.output_dir is not None,
            cache_dir=None,
            precision=args.precision,
        )
        began = time.perf_counter()
        result = run_training(request)
        wall = time.perf_counter() - began
    baseline = baseline_scores(request)
    metrics = {name: result.metrics[f"eval_{name}"] for name in SHOWN}
    figures = {
        "command": "python benchmarks/squad_v2.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None
        ),
        "model": args.model,
        "method": args.method,
        "hyperparameters": hyperparameters,
        "train_questions": result.num_train_examples,
        "train_windows": result.extra["num_train_windows"],
        "eval_questions": result.num_eval_examples,
        "eval_windows": result.extra["num_eval_windows"],
        "max_seq_length": result.extra["max_seq_length"],
        "doc_stride": result.extra["doc_stride"],
        "model_scores": metrics,
        "model_best_threshold": {
            k: result.extra[f"eval_{k}"] for k in ("best_exact", "best_f1", "best_f1_thresh")
        },
        "all_empty_baseline": {name: baseline[name] for name in SHOWN},
        "train_runtime_s": round(result.train_runtime_s, 1),
        "wall_s": round(wall, 1),
        "threads": _threads(),
    }
    _print(figures)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _print(figures: dict[str, Any]) -> None:
    print(
        f"SQuAD 2.0, {figures['model']} ({figures['method']}), trained on "
        f"{figures['train_questions']} questions ({figures['train_windows']} windows of "
        f"{figures['max_seq_length']} tokens, stride {figures['doc_stride']}), scored on "
        f"{figures['eval_questions']} questions of held-out articles"
    )
    print(f"{'':<22}{'model':>10}{'all empty':>12}")
    for name in SHOWN:
        model, empty = figures["model_scores"][name], figures["all_empty_baseline"][name]
        print(f"{name:<22}{model:>10.2f}{empty:>12.2f}")
    best = figures["model_best_threshold"]
    print(
        f"best_f1 {best['best_f1']:.2f} at null threshold {best['best_f1_thresh']:.3f} "
        "(tuned on the eval questions themselves: optimistic)"
    )
    print(
        f"training {figures['train_runtime_s']} s (evaluation included), whole job "
        f"{figures['wall_s']} s, {figures['threads']} torch threads"
    )


if __name__ == "__main__":
    main()
