"""The hyperparameters one training job accepts, checked before anything heavy is imported.

A sweep draws hyperparameters from a YAML search space, so a typo (``learning_rte``) or a LoRA
setting on a full fine-tuning job must fail at once with one clear sentence, not train silently
with a default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sweepfirst.errors import SweepfirstError

Method = Literal["full_finetune", "lora"]
METHODS: tuple[Method, ...] = ("full_finetune", "lora")

_COMMON_REQUIRED = ("learning_rate", "per_device_train_batch_size", "num_train_epochs")
_COMMON_OPTIONAL = ("warmup_ratio", "weight_decay")
_LORA_REQUIRED = ("lora_r", "lora_alpha")
_LORA_OPTIONAL = ("lora_dropout",)
_LORA_KEYS = _LORA_REQUIRED + _LORA_OPTIONAL


@dataclass(frozen=True)
class Hyperparameters:
    """Validated hyperparameters of one job, with defaults filled in.

    The LoRA fields are ``None`` for full fine-tuning.
    """

    learning_rate: float
    per_device_train_batch_size: int
    num_train_epochs: float
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    lora_r: int | None = None
    lora_alpha: int | None = None
    lora_dropout: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The hyperparameters as plain JSON values, without the LoRA fields of a full fine-tune."""
        return {key: value for key, value in asdict(self).items() if value is not None}


def valid_keys(method: str) -> tuple[str, ...]:
    """The hyperparameter names a job of ``method`` accepts."""
    keys = _COMMON_REQUIRED + _COMMON_OPTIONAL
    return keys + _LORA_KEYS if method == "lora" else keys


def parse_hyperparameters(method: str, values: Mapping[str, Any]) -> Hyperparameters:
    """Check ``values`` for a job of ``method`` and return them typed, with defaults filled in.

    Raises:
        SweepfirstError: an unknown method, an unknown or missing key, or a value out of range.
    """
    if method not in METHODS:
        raise SweepfirstError(f"Unknown method {method!r}; use one of: {', '.join(METHODS)}.")
    allowed = valid_keys(method)
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        lora_only = [key for key in unknown if key in _LORA_KEYS]
        if lora_only and method != "lora":
            raise SweepfirstError(
                f"Hyperparameter(s) {', '.join(lora_only)} only apply to method 'lora'; "
                f"remove them from this {method} job."
            )
        raise SweepfirstError(
            f"Unknown hyperparameter(s) {', '.join(unknown)} for method {method!r}; "
            f"valid names: {', '.join(allowed)}."
        )
    required = _COMMON_REQUIRED + (_LORA_REQUIRED if method == "lora" else ())
    missing = [key for key in required if key not in values]
    if missing:
        raise SweepfirstError(
            f"Missing hyperparameter(s) {', '.join(missing)} for method {method!r}; add them to the "
            "search space or the fixed hyperparameters."
        )

    params = Hyperparameters(
        learning_rate=_number(values, "learning_rate", low=0.0, low_open=True),
        per_device_train_batch_size=_integer(values, "per_device_train_batch_size", low=1),
        num_train_epochs=_number(values, "num_train_epochs", low=0.0, low_open=True),
        warmup_ratio=_number(
            values, "warmup_ratio", low=0.0, high=1.0, high_open=True, default=0.0
        ),
        weight_decay=_number(values, "weight_decay", low=0.0, default=0.0),
        lora_r=_integer(values, "lora_r", low=1) if method == "lora" else None,
        lora_alpha=_integer(values, "lora_alpha", low=1) if method == "lora" else None,
        lora_dropout=(
            _number(values, "lora_dropout", low=0.0, high=1.0, high_open=True, default=0.0)
            if method == "lora"
            else None
        ),
    )
    return params


def _number(
    values: Mapping[str, Any],
    key: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    default: float | None = None,
) -> float:
    raw = values.get(key, default)
    # bool is an int subclass; `learning_rate: true` in YAML is a mistake, not 1.0.
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise SweepfirstError(f"Hyperparameter {key} must be a finite number, got {raw!r}.")
    value = float(raw)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        bounds = f"{left}{low if low is not None else '-inf'}, {high if high is not None else 'inf'}{right}"
        raise SweepfirstError(
            f"Hyperparameter {key}={raw!r} is out of range; it must be in {bounds}."
        )
    return value


def _integer(values: Mapping[str, Any], key: str, *, low: int) -> int:
    raw = values.get(key)
    # Accept 16.0 (YAML and JSON round-trips produce it) but not 16.5.
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise SweepfirstError(f"Hyperparameter {key} must be a whole number, got {raw!r}.")
    if raw < low:
        raise SweepfirstError(f"Hyperparameter {key}={raw} is out of range; it must be >= {low}.")
    return raw
