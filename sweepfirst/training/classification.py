"""The sequence-classification pipeline (GLUE): data, model, Trainer, result files.

Imported only when a job of this kind runs (it imports torch and transformers at once).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import (
    DataCollatorWithPadding,
    PreTrainedTokenizerBase,
    PrinterCallback,
    TrainerState,
)

from sweepfirst.training import checkpoints, outputs
from sweepfirst.training.arguments import build_training_arguments, make_schedule, resolve_precision
from sweepfirst.training.callbacks import HooksCallback, LogFileCallback
from sweepfirst.training.data import load_raw_splits
from sweepfirst.training.hooks import TrainingHooks
from sweepfirst.training.metrics import EvaluationRecorder
from sweepfirst.training.models import build_model, load_tokenizer, resolve_model_name
from sweepfirst.training.request import TrainingRequest
from sweepfirst.training.result import Status, TrainingResult
from sweepfirst.training.splits import SplitRecipe, make_splits
from sweepfirst.training.tasks import TaskSpec
from sweepfirst.training.tokenization import LENGTH_COLUMN, cache_key, tokenize_splits
from sweepfirst.training.tracking import wandb_run
from sweepfirst.training.trainer import SweepfirstTrainer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedData:
    """A job's tokenized train and eval examples, and where they came from."""

    tokenizer: PreTrainedTokenizerBase
    train: Dataset
    eval: Dataset  # longest first, see `longest_first`
    eval_split: str
    data_fingerprint: str
    cache_key: str


def prepare_data(request: TrainingRequest, task: TaskSpec) -> PreparedData:
    """Load, split and tokenize (or fetch from the cache) the examples of one job."""
    tokenizer = load_tokenizer(request.model)
    raw = load_raw_splits(task, request.data_dir)
    recipe = SplitRecipe.from_request(request)
    splits = make_splits(raw, recipe)
    key = cache_key(task, raw.fingerprint, tokenizer, request.max_seq_length, recipe.cache_key())
    train, held_out = tokenize_splits(
        splits, tokenizer, request.max_seq_length, request.cache_dir, key
    )
    return PreparedData(
        tokenizer=tokenizer,
        train=train,
        eval=longest_first(held_out),
        eval_split=splits.eval_split,
        data_fingerprint=raw.fingerprint,
        cache_key=key,
    )


def longest_first(ds: Dataset) -> Dataset:
    """``ds`` ordered by decreasing length, ties by example id (a fixed, reproducible order).

    Evaluation batches then hold examples of similar length (little padding), and an
    out-of-memory error shows on the first batch rather than late in a run.
    """
    # `[:]` reads a column in one go; iterating a datasets 5 column reads row by row.
    order = np.lexsort((np.asarray(ds["idx"][:]), -np.asarray(ds[LENGTH_COLUMN][:])))
    # keep_in_memory: no indices cache file next to the shared tokenized cache entry.
    return ds.select(order.tolist(), keep_in_memory=True)


def train_sequence_classification(
    request: TrainingRequest, task: TaskSpec, hooks: TrainingHooks
) -> TrainingResult:
    """Train (or continue) one classification job and write its result files."""
    params = request.parsed_hyperparameters
    precision = resolve_precision(request.precision)
    logger.info("Job %s: %s", request.fingerprint(), request.to_json())

    data = prepare_data(request, task)
    schedule = make_schedule(len(data.train), params, request.evaluations_per_epoch)
    args = build_training_arguments(request, params, schedule, precision)
    model = build_model(request.model, task, request.method, params, request.seed)

    bridge = HooksCallback(hooks, save_checkpoints=request.save_checkpoints)
    trainer: SweepfirstTrainer | None = None
    recorder = EvaluationRecorder(
        task, current_step=lambda: trainer.state.global_step if trainer else 0
    )
    trainer = SweepfirstTrainer(
        model=model,
        args=args,
        train_dataset=data.train,
        eval_dataset=data.eval,
        processing_class=data.tokenizer,
        # Pad each batch to its longest example; multiples of 8 suit GPU tensor cores.
        data_collator=DataCollatorWithPadding(
            data.tokenizer, pad_to_multiple_of=8 if torch.cuda.is_available() else None
        ),
        compute_metrics=recorder,
        callbacks=[bridge, LogFileCallback()],
    )
    # PrinterCallback (the stand-in for progress bars) prints every log line to stdout.
    trainer.remove_callback(PrinterCallback)

    resume = checkpoints.latest_checkpoint(request.output_dir)
    if resume is not None:
        logger.info("Resuming from %s", resume)

    with wandb_run(request.wandb, request.output_dir, config=request.to_json()) as run:
        output = trainer.train(resume_from_checkpoint=str(resume) if resume is not None else None)
        status = _status(bridge, trainer.state)
        if status != "interrupted" and recorder.step != trainer.state.global_step:
            # Resumed from the final checkpoint of a job that had already trained to the end:
            # evaluate the final model once more to get its predictions.
            bridge.active = False
            trainer.evaluate()

        history = evaluation_history(trainer.state.log_history)
        final = history[-1]["metrics"] if history else {}
        trainable, total = _parameter_counts(model)
        result = TrainingResult(
            status=status,
            metrics=dict(final),
            primary_metric=task.primary_metric,
            score=final.get(task.primary_metric),
            history=history,
            global_step=trainer.state.global_step,
            train_runtime_s=float(output.metrics.get("train_runtime", 0.0)),
            train_samples_per_second=float(output.metrics.get("train_samples_per_second", 0.0)),
            num_train_examples=len(data.train),
            num_eval_examples=len(data.eval),
            resumed_from=str(resume) if resume is not None else None,
            eval_split=data.eval_split,
            fingerprint=request.fingerprint(),
            provenance={
                "data_source": "local" if request.data_dir is not None else "hub",
                "data_fingerprint": data.data_fingerprint,
                "model_source": resolve_model_name(request.model),
                "tokenized_cache_key": data.cache_key,
                "precision": precision,
                "device": str(trainer.args.device),
            },
            extra={
                "max_steps": trainer.state.max_steps,
                "trainable_parameters": trainable,
                "total_parameters": total,
                "mean_train_tokens": float(np.mean(data.train[LENGTH_COLUMN][:])),
                "label_names": list(task.label_names),
            },
        )
        if result.finished:
            if recorder.logits is not None and recorder.labels is not None:
                outputs.write_predictions(
                    request.output_dir,
                    data.eval["idx"][:],
                    recorder.labels.tolist(),
                    recorder.logits,
                )
            outputs.write_result(request.output_dir, result)
        if run is not None:
            run.summary.update({"sweepfirst/status": status, "sweepfirst/score": result.score})
    logger.info("Job %s ended: %s, score %s", request.fingerprint(), status, result.score)
    return result


def _status(bridge: HooksCallback, state: TrainerState) -> Status:
    if bridge.pruned:
        return "pruned"
    # A stop request on the very last step still leaves a finished job.
    if bridge.interrupted and state.global_step < state.max_steps:
        return "interrupted"
    return "completed"


def evaluation_history(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every evaluation in the Trainer's log, oldest first, one per step (the latest wins).

    The log is part of each checkpoint, so this covers evaluations before a resume too.
    """
    by_step: dict[int, dict[str, Any]] = {}
    for entry in log_history:
        if "eval_loss" in entry:
            step = int(entry.get("step", 0))
            by_step[step] = {
                "step": step,
                "epoch": float(entry.get("epoch", 0.0)),
                "metrics": {k: float(v) for k, v in entry.items() if k.startswith("eval_")},
            }
    return [by_step[step] for step in sorted(by_step)]


def _parameter_counts(model: torch.nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
