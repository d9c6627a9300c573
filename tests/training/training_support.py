"""Shared constants and hooks of the training tests (imported by conftest and test modules)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sweepfirst.training import TrainingRequest

FULL_HP: dict[str, Any] = {
    "learning_rate": 1e-3,
    "per_device_train_batch_size": 8,
    "num_train_epochs": 2,
    "warmup_ratio": 0.1,
}
LORA_HP: dict[str, Any] = {**FULL_HP, "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.1}

#: ``make_request(name, *, method=..., hyperparameters=..., **request_fields)``
RequestFactory = Callable[..., TrainingRequest]


class StopAtStep:
    """Ask the job to stop after optimizer step ``step`` (as a lost lease or Ctrl-C would)."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.polls = 0

    def on_evaluation(self, step: int, epoch: float, metrics: Mapping[str, float], evaluation: int) -> bool:
        return True

    def on_step(self, step: int) -> None:
        return None

    def should_stop(self) -> bool:
        self.polls += 1  # polled once per optimizer step
        return self.polls >= self.step
