"""Scoring evaluations, and keeping the latest evaluation's logits for the predictions file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from transformers import EvalPrediction

from sweepfirst.tasks import TaskSpec


class EvaluationRecorder:
    """The Trainer's ``compute_metrics``: scores with the task's metrics and keeps the logits.

    Keeping the logits of the latest evaluation lets the runner write per-example predictions of
    the final model without a second pass over the eval set.
    """

    def __init__(self, task: TaskSpec, current_step: Callable[[], int]) -> None:
        self.task = task
        self._current_step = current_step
        self.step: int | None = None
        self.logits: np.ndarray | None = None
        self.labels: np.ndarray | None = None

    def __call__(self, prediction: EvalPrediction) -> dict[str, float]:
        logits: Any = prediction.predictions
        # Some models return (logits, hidden_states, ...); the logits come first.
        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        logits = np.asarray(logits, dtype=np.float32)
        labels = np.asarray(prediction.label_ids)
        self.step = self._current_step()
        self.logits, self.labels = logits, labels
        return self.task.compute_metrics(logits.argmax(axis=-1).tolist(), labels.tolist())
