"""The part of a training job that does not depend on the task: train, resume, evaluate, record.

A pipeline (``classification``, ``qa.pipeline``) prepares its data, model and scorer as
:class:`JobParts`; :func:`train_job` then runs the ``Trainer`` with sweepfirst's callbacks,
continues from the job's latest checkpoint, reports to W&B, and writes ``metrics.json`` (and,
through the pipeline's writer, ``predictions.jsonl``) when the job has finished.

Imported only when a job runs (it imports torch and transformers at once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from datasets import Dataset
from transformers import (
    DataCollatorWithPadding,
    EvalPrediction,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PrinterCallback,
    TrainerState,
    TrainingArguments,
)

from sweepfirst.tasks import TaskSpec
from sweepfirst.training import checkpoints, outputs
from sweepfirst.training.callbacks import HooksCallback, LogFileCallback, ProgressFileCallback
from sweepfirst.training.hooks import TrainingHooks
from sweepfirst.training.models import resolve_model_name
from sweepfirst.training.request import TrainingRequest
from sweepfirst.training.result import Status, TrainingResult
from sweepfirst.training.tracking import wandb_run
from sweepfirst.training.trainer import SweepfirstTrainer

logger = logging.getLogger(__name__)


class Recorder(Protocol):
    """The Trainer's ``compute_metrics`` that also remembers the latest evaluation's outputs."""

    #: The optimizer step of the latest evaluation (None before the first).
    step: int | None

    def __call__(self, prediction: EvalPrediction) -> dict[str, float]: ...


#: Builds a recorder, given a function that returns the trainer's current step.
RecorderFactory = Callable[[Callable[[], int]], Recorder]


@dataclass
class JobParts:
    """What a pipeline hands to :func:`train_job`.

    Attributes:
        model, tokenizer, args: the model to train, its tokenizer, the ``TrainingArguments``.
        train, eval: the model-ready datasets (eval in the order its predictions are read back).
        make_recorder: the scorer (see :data:`RecorderFactory`).
        write_predictions: writes ``predictions.jsonl`` from the recorder of a finished job.
        num_train_examples, num_eval_examples: the job's sizes in the task's own unit (sentences,
            questions), which may differ from the model's rows (a question can be several windows).
        eval_split: ``selection`` or ``dev``.
        provenance: data identity for ``result.provenance`` (model, precision and device are added).
        extra: details for ``result.extra`` (step budget and parameter counts are added).
        final_extra: more details read off the recorder at the end (e.g. tuned thresholds).
    """

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    args: TrainingArguments
    train: Dataset
    eval: Dataset
    make_recorder: RecorderFactory
    write_predictions: Callable[[Any], None]
    num_train_examples: int
    num_eval_examples: int
    eval_split: str
    provenance: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    final_extra: Callable[[Any], dict[str, Any]] | None = None


def train_job(
    request: TrainingRequest, task: TaskSpec, hooks: TrainingHooks, parts: JobParts, precision: str
) -> TrainingResult:
    """Train (or continue) one job and write its result files; see ``runner.run_training``."""
    bridge = HooksCallback(hooks, save_checkpoints=request.save_checkpoints)
    trainer: SweepfirstTrainer | None = None
    recorder = parts.make_recorder(lambda: trainer.state.global_step if trainer else 0)
    trainer = SweepfirstTrainer(
        model=parts.model,
        args=parts.args,
        train_dataset=parts.train,
        eval_dataset=parts.eval,
        processing_class=parts.tokenizer,
        # Pad each batch to its longest row; multiples of 8 suit GPU tensor cores.
        data_collator=DataCollatorWithPadding(
            parts.tokenizer, pad_to_multiple_of=8 if torch.cuda.is_available() else None
        ),
        compute_metrics=recorder,
        callbacks=[bridge, LogFileCallback(), ProgressFileCallback(parts.num_train_examples, parts.eval_split)],
    )
    # PrinterCallback (the stand-in for progress bars) prints every log line to stdout.
    trainer.remove_callback(PrinterCallback)

    resume = checkpoints.latest_checkpoint(request.output_dir)
    if resume is not None:
        logger.info("Resuming from %s", resume)

    with wandb_run(request.wandb, request.output_dir, config=request.to_json()) as run:
        output = trainer.train(resume_from_checkpoint=str(resume) if resume is not None else None)
        status = job_status(bridge, trainer.state)
        if status != "interrupted" and recorder.step != trainer.state.global_step:
            # Resumed from the final checkpoint of a job that had already trained to the end:
            # evaluate the final model once more to get its predictions.
            bridge.active = False
            trainer.evaluate()

        history = evaluation_history(trainer.state.log_history)
        final = history[-1]["metrics"] if history else {}
        trainable, total = parameter_counts(parts.model)
        extra = {
            "max_steps": trainer.state.max_steps,
            "trainable_parameters": trainable,
            "total_parameters": total,
            **parts.extra,
        }
        if parts.final_extra is not None and recorder.step is not None:
            extra.update(parts.final_extra(recorder))
        result = TrainingResult(
            status=status,
            metrics=dict(final),
            primary_metric=task.primary_metric,
            score=final.get(task.primary_metric),
            history=history,
            global_step=trainer.state.global_step,
            train_runtime_s=float(output.metrics.get("train_runtime", 0.0)),
            train_samples_per_second=float(output.metrics.get("train_samples_per_second", 0.0)),
            num_train_examples=parts.num_train_examples,
            num_eval_examples=parts.num_eval_examples,
            resumed_from=str(resume) if resume is not None else None,
            eval_split=parts.eval_split,
            fingerprint=request.fingerprint(),
            provenance={
                **parts.provenance,
                "model_source": resolve_model_name(request.model),
                "precision": precision,
                "device": str(trainer.args.device),
            },
            extra=extra,
        )
        if result.finished:
            if recorder.step is not None:
                parts.write_predictions(recorder)
            if status == "completed" and request.save_final_model:
                # Before metrics.json: a job whose result is recorded always has its model.
                from sweepfirst.training.final_model import save_final_model

                result.provenance["final_model"] = save_final_model(
                    parts.model, request.output_dir, merged=request.save_merged_model)
            outputs.write_result(request.output_dir, result)
        if run is not None:
            run.summary.update({"sweepfirst/status": status, "sweepfirst/score": result.score})
    logger.info("Job %s ended: %s, score %s", request.fingerprint(), status, result.score)
    return result


def job_status(bridge: HooksCallback, state: TrainerState) -> Status:
    """How the training loop ended: pruned by a hook, interrupted, or trained to the end."""
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


def parameter_counts(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
