"""Training: data loading, the Trainer wrapper, checkpoints and tracking (the task registry they
read is :mod:`sweepfirst.tasks`, which every layer may use).

Only this package imports torch, transformers, peft and datasets, and only when a job actually
trains: importing ``sweepfirst.training`` (requests, hooks, results) is cheap, and
``run_training`` loads the heavy runner on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sweepfirst.training.hooks import NO_HOOKS, TrainingHooks
from sweepfirst.training.hyperparameters import Hyperparameters, parse_hyperparameters
from sweepfirst.training.request import TrainingRequest, WandbSettings
from sweepfirst.training.result import TrainingResult

if TYPE_CHECKING:
    from sweepfirst.training.runner import run_training

__all__ = [
    "NO_HOOKS",
    "Hyperparameters",
    "TrainingHooks",
    "TrainingRequest",
    "TrainingResult",
    "WandbSettings",
    "parse_hyperparameters",
    "run_training",
]


def __getattr__(name: str) -> Any:
    # `run_training` pulls in torch: import it only when someone asks for it.
    if name == "run_training":
        from sweepfirst.training.runner import run_training

        return run_training
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
