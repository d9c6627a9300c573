"""What a training job hands back, and how it is written to and read from ``metrics.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

Status = Literal["completed", "pruned", "interrupted"]

#: A job that ended for good; ``interrupted`` means "call again to continue".
FINISHED_STATUSES: frozenset[str] = frozenset({"completed", "pruned"})


@dataclass
class TrainingResult:
    """The outcome of one ``run_training`` call.

    Attributes:
        status: ``completed`` (trained to the end), ``pruned`` (a hook stopped it after an
            evaluation) or ``interrupted`` (a hook asked it to stop; a checkpoint was saved).
        metrics: the final evaluation's metrics with HF names (``eval_accuracy``, ``eval_loss``...);
            for an interrupted job, the latest evaluation's, or empty if there was none.
        primary_metric: the task's headline metric name, e.g. ``eval_accuracy``.
        score: ``metrics[primary_metric]``, or None when there is no evaluation yet.
        history: every evaluation of the job so far, oldest first: ``{"step", "epoch", "metrics"}``.
        global_step: optimizer steps done in total (across resumes).
        train_runtime_s: wall time of this call's training loop (evaluations included).
        train_samples_per_second: training examples processed per second in this call.
        num_train_examples / num_eval_examples: sizes of the splits actually used.
        resumed_from: the checkpoint folder this call continued from, if any.
        eval_split: ``selection`` or ``dev``: which split ``metrics`` were computed on.
        fingerprint: the request's fingerprint, so a result can be matched to its configuration.
        provenance: what exactly was trained and scored (data and model identity, precision,
            device), for the run's provenance record.
        extra: details for reports (parameter counts, step budget, mean sequence length).
    """

    status: Status
    metrics: dict[str, float]
    primary_metric: str
    score: float | None
    history: list[dict[str, Any]]
    global_step: int
    train_runtime_s: float
    train_samples_per_second: float
    num_train_examples: int
    num_eval_examples: int
    resumed_from: str | None = None
    eval_split: str = "selection"
    fingerprint: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """True unless the job was interrupted and should be called again."""
        return self.status in FINISHED_STATUSES

    def to_json(self) -> dict[str, Any]:
        """The result as JSON values (the content of ``metrics.json``)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainingResult:
        """Rebuild a result from ``metrics.json`` content (keys it does not know are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
