"""The fine-tuning methods sweepfirst compares, and the hyperparameters each one takes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sweepfirst.errors import SpecError


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter a method understands, with the check that keeps it sane."""

    name: str
    #: The shell-export suffix in optimal_hyperparams.sh (MRPC_LORA_<suffix>).
    export_suffix: str
    is_valid: Callable[[Any], bool]
    requirement: str
    integer: bool = False


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _ratio(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


COMMON_HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    Hyperparameter("learning_rate", "LR", _positive, "a number above 0"),
    Hyperparameter("per_device_train_batch_size", "BS", _positive_int, "an integer of at least 1", True),
    Hyperparameter("warmup_ratio", "WU", _ratio, "a fraction in [0, 1)"),
    Hyperparameter("num_train_epochs", "EPOCHS", _positive, "a number above 0"),
    Hyperparameter("weight_decay", "WD", lambda v: _ratio(v) or v == 0, "a number in [0, 1)"),
)
LORA_HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    Hyperparameter("lora_r", "R", _positive_int, "an integer of at least 1", True),
    Hyperparameter("lora_alpha", "ALPHA", _positive, "a number above 0"),
    Hyperparameter("lora_dropout", "DROPOUT", _ratio, "a fraction in [0, 1)"),
)


@dataclass(frozen=True)
class Method:
    name: str
    #: The label in exported variable names (MRPC_FULLFINETUNE_LR).
    export_label: str
    hyperparameters: tuple[Hyperparameter, ...]
    #: What a researcher would run without a sweep (run_glue's defaults; peft's LoRA defaults).
    baseline: Mapping[str, Any] = field(default_factory=dict)

    def hyperparameter(self, name: str) -> Hyperparameter | None:
        return next((h for h in self.hyperparameters if h.name == name), None)


METHODS: dict[str, Method] = {
    "full_finetune": Method(
        "full_finetune",
        "FULLFINETUNE",
        COMMON_HYPERPARAMETERS,
        baseline={
            "learning_rate": 2e-5,
            "per_device_train_batch_size": 32,
            "num_train_epochs": 3,
            "warmup_ratio": 0.0,
        },
    ),
    "lora": Method(
        "lora",
        "LORA",
        COMMON_HYPERPARAMETERS + LORA_HYPERPARAMETERS,
        baseline={
            "learning_rate": 1e-4,
            "per_device_train_batch_size": 32,
            "num_train_epochs": 3,
            "warmup_ratio": 0.0,
            "lora_r": 8,
            "lora_alpha": 8,
            "lora_dropout": 0.0,
        },
    ),
}

#: Hyperparameters every job needs; a sweep that leaves one out gets the baseline's value.
REQUIRED = ("learning_rate", "per_device_train_batch_size", "warmup_ratio", "num_train_epochs")


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise SpecError(
            f"Unknown method {name!r}; choose from {', '.join(sorted(METHODS))}."
        ) from None


def validate_hyperparameters(method: Method, values: Mapping[str, Any], *, where: str) -> None:
    """Raise SpecError for an unknown name or a value that makes no sense (e.g. a negative lr)."""
    for name, value in values.items():
        spec = method.hyperparameter(name)
        if spec is None:
            known = ", ".join(h.name for h in method.hyperparameters)
            raise SpecError(
                f"{where}: {name!r} is not a hyperparameter of {method.name}; use one of {known}."
            )
        if spec.integer and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not spec.is_valid(value):
            raise SpecError(f"{where}.{name} is {value!r}; it must be {spec.requirement}.")


def complete_hyperparameters(method: Method, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values given, plus the baseline's for any required one left out; ints where ints."""
    completed: dict[str, Any] = {k: v for k, v in method.baseline.items()}
    completed.update(values)
    for spec in method.hyperparameters:
        if spec.integer and isinstance(completed.get(spec.name), float):
            completed[spec.name] = int(completed[spec.name])
    return completed
