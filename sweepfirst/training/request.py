"""What one training job is asked to do: the request the engine hands to the training module.

This module must stay importable without torch or transformers: the planner builds requests,
the CLI validates them, and only a worker that actually trains imports the heavy runner.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from sweepfirst.errors import SweepfirstError
from sweepfirst.tasks import get_task
from sweepfirst.training.hyperparameters import Hyperparameters, parse_hyperparameters

Evaluation = Literal["selection", "dev"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
WandbMode = Literal["online", "offline", "disabled"]

EVALUATIONS: tuple[str, ...] = ("selection", "dev")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
WANDB_MODES: tuple[str, ...] = ("online", "offline", "disabled")

#: Fields that say where things go or how they are watched, not what is computed; a change in
#: them must not stop a job from resuming.
_NOT_FINGERPRINTED = frozenset({"output_dir", "data_dir", "cache_dir", "wandb", "save_checkpoints",
                                "save_final_model", "save_merged_model"})


@dataclass(frozen=True)
class WandbSettings:
    """How (and whether) a job reports to Weights & Biases.

    ``run_id`` should be stable per job (derived from the job key), so that a resumed job continues
    the same W&B run instead of starting a second one.
    """

    mode: WandbMode = "disabled"
    project: str | None = None
    entity: str | None = None
    group: str | None = None
    job_type: str | None = None
    name: str | None = None
    run_id: str | None = None
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in WANDB_MODES:
            raise SweepfirstError(
                f"Unknown W&B mode {self.mode!r}; use one of: {', '.join(WANDB_MODES)}."
            )
        object.__setattr__(self, "tags", tuple(self.tags))

    @property
    def enabled(self) -> bool:
        """Whether the job reports to W&B at all."""
        return self.mode != "disabled"


@dataclass(frozen=True)
class TrainingRequest:
    """One training job: a task, a method, hyperparameters and a seed, and where to put the results.

    Everything of the job (checkpoints, logs, metrics, predictions, the W&B folder) goes under
    ``output_dir``; calling ``run_training`` again with the same request continues from the last
    checkpoint there.

    Attributes:
        task: registry name (``mrpc``, ``sst2``, ``rte``, ``squad_v2``).
        method: ``full_finetune``, ``head_only``, ``lora``, or a peft method defined by ``peft``.
        hyperparameters: learning_rate, per_device_train_batch_size, num_train_epochs, and any
            other name of the vocabulary (``sweepfirst.vocabulary``): TrainingArguments fields,
            model-config dropouts, the method's peft config fields (lora_r, lora_alpha ...).
        seed: the trial / production seed (model init, data order, dropout).
        model: a Hub id, a local folder, or ``bundled-minilm``.
        output_dir: the job's folder, derived by the caller from the job key.
        evaluation: ``selection`` trains on train minus a held-out selection split and scores on
            it (sweeps); ``dev`` trains on all of train and scores on GLUE dev (production).
        selection_fraction: share of train held out as the selection split.
        selection_seed: fixes the selection split; the same for every trial, unlike ``seed``.
        data_dir: a classic ``glue_data/`` folder (SQuAD v2: its ``squad_v2/`` folder, found in
            it or next to it, see ``qa.splits``); ``None`` loads from the Hub.
        max_train_samples / max_eval_samples: subsample (fixed seed) after the split is made.
        max_seq_length: truncation length in tokens; for question answering, the window length
            (raised to the task's ``min_seq_length``, 384 for SQuAD v2, when shorter).
        doc_stride: question answering only: tokens of overlap between the windows of a long
            context; None (the default) means min(128, max_seq_length // 3), i.e. 128 at 384.
        evaluations_per_epoch: how often to evaluate and checkpoint.
        save_checkpoints: write resumable checkpoints (off only for throw-away runs).
        save_final_model: write the finished model to ``final_model/`` (peft: the adapter only).
        save_merged_model: peft only: also write the merged weights to ``final_model_merged/``.
        cache_dir: where tokenized datasets are cached across trials; ``None`` disables the cache.
        precision: ``auto`` (bf16 on a GPU that has it, else fp32), ``fp32``, ``bf16``, ``fp16``.
        wandb: W&B reporting settings.
        peft: the method's peft definition, for a peft method other than ``lora``.
    """

    task: str
    method: str
    # Not hashed: a dict cannot be; equal requests still hash equal by their other fields.
    hyperparameters: Mapping[str, Any] = field(hash=False)
    seed: int
    model: str
    output_dir: Path
    evaluation: str = "selection"
    selection_fraction: float = 0.1
    selection_seed: int = 0
    data_dir: Path | None = None
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    max_seq_length: int = 128
    doc_stride: int | None = None
    evaluations_per_epoch: int = 1
    save_checkpoints: bool = True
    save_final_model: bool = False
    save_merged_model: bool = False
    cache_dir: Path | None = None
    precision: str = "auto"
    wandb: WandbSettings = field(default_factory=WandbSettings)
    #: The method's peft definition (its workflow ``peft:`` block, ``peft_type`` included) for a
    #: peft method other than the built-in ``lora``; None for the built-in methods.
    peft: Mapping[str, Any] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        # Normalise first so that a str path and a Path give equal requests and equal fingerprints.
        object.__setattr__(self, "output_dir", Path(self.output_dir))
        for name in ("data_dir", "cache_dir"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))
        object.__setattr__(self, "hyperparameters", dict(self.hyperparameters))
        if self.peft is not None:
            object.__setattr__(self, "peft", dict(self.peft))
        self._validate()

    def _validate(self) -> None:
        get_task(self.task)
        parse_hyperparameters(self.method, self.hyperparameters, peft=self.peft)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise SweepfirstError(f"seed must be a whole number, got {self.seed!r}.")
        if not self.model:
            raise SweepfirstError(
                "model is empty; pass a Hub id, a local folder or 'bundled-minilm'."
            )
        if self.evaluation not in EVALUATIONS:
            raise SweepfirstError(
                f"Unknown evaluation {self.evaluation!r}; use 'selection' (sweeps) or 'dev' (production)."
            )
        if not 0.0 < self.selection_fraction < 1.0:
            raise SweepfirstError(
                f"selection_fraction must be between 0 and 1 (exclusive), got {self.selection_fraction!r}."
            )
        for name in ("max_train_samples", "max_eval_samples"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise SweepfirstError(
                    f"{name} must be a positive whole number or None, got {value!r}."
                )
        if self.max_seq_length < 8:
            raise SweepfirstError(f"max_seq_length must be at least 8, got {self.max_seq_length}.")
        if self.doc_stride is not None:
            if get_task(self.task).kind != "question_answering":
                raise SweepfirstError(
                    "doc_stride only applies to question-answering tasks; "
                    f"leave it unset for {self.task}."
                )
            stride = self.doc_stride
            if isinstance(stride, bool) or not isinstance(stride, int) or stride < 0:
                raise SweepfirstError(
                    f"doc_stride must be a whole number of tokens (0 or more), got {stride!r}."
                )
        if self.evaluations_per_epoch < 1:
            raise SweepfirstError(
                f"evaluations_per_epoch must be at least 1, got {self.evaluations_per_epoch}."
            )
        if self.precision not in PRECISIONS:
            raise SweepfirstError(
                f"Unknown precision {self.precision!r}; use one of: {', '.join(PRECISIONS)}."
            )

    @property
    def parsed_hyperparameters(self) -> Hyperparameters:
        """The hyperparameters, validated and with defaults filled in."""
        return parse_hyperparameters(self.method, self.hyperparameters, peft=self.peft)

    def fingerprint_fields(self) -> dict[str, Any]:
        """The fields that decide the result, as JSON values (what ``fingerprint`` hashes)."""
        values: dict[str, Any] = {}
        for f in fields(self):
            if f.name in _NOT_FINGERPRINTED:
                continue
            values[f.name] = getattr(self, f.name)
        # Left out when unset, so that adding the fields changed the fingerprint of no earlier job.
        if self.doc_stride is None:
            del values["doc_stride"]
        if self.peft is None:
            del values["peft"]
        # Defaults filled in: `warmup_ratio: 0` written out or left out is the same job.
        values["hyperparameters"] = self.parsed_hyperparameters.as_dict()
        # Where the data lives is not part of the result, but whether it is the Hub's tokenised
        # MRPC or the original Microsoft text is (see shared/data/PROVENANCE.md).
        values["data_source"] = "local" if self.data_dir is not None else "hub"
        return values

    def fingerprint(self) -> str:
        """A stable hash of everything that affects the result (not output_dir, data/cache paths, W&B)."""
        canonical = json.dumps(self.fingerprint_fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        """The whole request as JSON values (for ``request.json`` and W&B config)."""
        values: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, WandbSettings):
                value = {g.name: getattr(value, g.name) for g in fields(value)}
                value["tags"] = list(value["tags"])
            values[f.name] = value
        return values
