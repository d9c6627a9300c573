"""The hyperparameters of one training job, checked before anything heavy is imported.

The names and checks are the vocabulary's (:mod:`sweepfirst.vocabulary`, through
:mod:`sweepfirst.methods`); this module only types them for the trainer: the schedule's own
numbers as fields, and every knob sorted by where it goes -- ``TrainingArguments``, the model
config, or the peft config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sweepfirst.errors import SpecError, SweepfirstError
from sweepfirst.methods import REQUIRED, Method, get_method


@dataclass(frozen=True)
class Hyperparameters:
    """Validated hyperparameters of one job, with defaults filled in.

    The LoRA fields are ``None`` for a method without a LoRA-family adapter. ``training``,
    ``model_config`` and ``peft`` hold every knob by the library field it sets (``warmup_ratio`` and
    the schedule's numbers are fields here and not repeated there).
    """

    learning_rate: float
    per_device_train_batch_size: int
    num_train_epochs: float
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    lora_r: int | None = None
    lora_alpha: int | None = None
    lora_dropout: float | None = None
    #: Further TrainingArguments (gradient_accumulation_steps, lr_scheduler_type, max_steps ...).
    training: Mapping[str, Any] = field(default_factory=dict)
    #: Model-config overrides (hidden_dropout_prob ...).
    model_config: Mapping[str, Any] = field(default_factory=dict)
    #: peft config fields from the hyperparameters (the method's own definition is not here).
    peft: Mapping[str, Any] = field(default_factory=dict)
    #: Every hyperparameter by its canonical name, as JSON values (what as_dict returns).
    values: Mapping[str, Any] = field(default_factory=dict)
    #: The method these are for, with its peft definition (what the model builder wraps).
    method: Method | None = None

    @property
    def gradient_accumulation_steps(self) -> int:
        return int(self.training.get("gradient_accumulation_steps", 1))

    @property
    def max_steps(self) -> int:
        return int(self.training.get("max_steps", -1))

    def as_dict(self) -> dict[str, Any]:
        """The hyperparameters as plain JSON values, canonical names, defaults filled in."""
        return dict(self.values)


def optimizer_steps(num_train_examples: int, params: Hyperparameters) -> tuple[int, int]:
    """(steps per epoch, total steps) of a single-device job, by the Trainer's own arithmetic
    (``Trainer.set_initial_training_values``): one forward pass per batch, the last batch may be
    short; one optimizer step per ``gradient_accumulation_steps`` batches, the last possibly
    shorter; ``max_steps`` > 0 wins over epochs. Light: ``sweepfirst plan`` uses it too."""
    import math

    batches = max(1, math.ceil(num_train_examples / params.per_device_train_batch_size))
    accumulation = params.gradient_accumulation_steps
    steps_per_epoch = max(1, batches // accumulation + int(batches % accumulation > 0))
    if params.max_steps > 0:
        return steps_per_epoch, params.max_steps
    return steps_per_epoch, math.ceil(params.num_train_epochs * steps_per_epoch)


def parse_hyperparameters(
    method: str, values: Mapping[str, Any], *, peft: Mapping[str, Any] | None = None
) -> Hyperparameters:
    """Check ``values`` for a job of ``method`` and return them typed, with defaults filled in.

    Raises:
        SweepfirstError: an unknown method, an unknown or missing name, or a value out of range.
    """
    try:
        info = get_method(method, peft)
    except SpecError as error:
        raise SweepfirstError(error.message) from None
    _refuse_lora_names_without_adapter(info, values)
    try:
        resolution = info.resolve(values, where=f"hyperparameters of this {method} job")
        checked = {
            found.name: found.check(values[written], f"Hyperparameter {written}")
            for written, found in resolution.knobs.items()
        }
    except SpecError as error:
        raise SweepfirstError(_compat(error.message)) from None
    required = list(REQUIRED) + (["lora_r", "lora_alpha"] if info.name == "lora" and not peft else [])
    missing = [key for key in required if key not in checked]
    if missing:
        raise SweepfirstError(
            f"Missing hyperparameter(s) {', '.join(missing)} for method {method!r}; add them to the "
            "search space or the fixed hyperparameters."
        )
    typed: dict[str, Any] = {
        "learning_rate": float(checked["learning_rate"]),
        "per_device_train_batch_size": int(checked["per_device_train_batch_size"]),
        "num_train_epochs": float(checked["num_train_epochs"]),
        "warmup_ratio": float(checked.get("warmup_ratio", 0.0)),
        "weight_decay": float(checked.get("weight_decay", 0.0)),
    }
    if "warmup_steps" in checked:
        del typed["warmup_ratio"]
    lora = info.name == "lora" or (info.peft_type == "LORA" and "lora_r" in checked)
    if lora:
        typed["lora_r"] = int(checked.get("lora_r", info.peft.get("r", 8)))
        typed["lora_alpha"] = int(checked.get("lora_alpha", info.peft.get("lora_alpha", 8)))
        typed["lora_dropout"] = float(checked.get("lora_dropout", info.peft.get("lora_dropout", 0.0)))
    all_values = {**checked, **typed}
    training: dict[str, Any] = {}
    model_config: dict[str, Any] = {}
    peft_fields: dict[str, Any] = {}
    for name, value in all_values.items():
        found = info.knob(name)
        if found is None or name in typed and found.category == "training":
            continue
        {"training": training, "model_config": model_config, "peft": peft_fields}[found.category][found.target] = value
    return Hyperparameters(
        learning_rate=typed["learning_rate"],
        per_device_train_batch_size=typed["per_device_train_batch_size"],
        num_train_epochs=typed["num_train_epochs"],
        warmup_ratio=typed.get("warmup_ratio", 0.0),
        weight_decay=typed["weight_decay"],
        lora_r=typed.get("lora_r"),
        lora_alpha=typed.get("lora_alpha"),
        lora_dropout=typed.get("lora_dropout"),
        training=training,
        model_config=model_config,
        peft=peft_fields,
        values=all_values,
        method=info,
    )


def _refuse_lora_names_without_adapter(info: Method, values: Mapping[str, Any]) -> None:
    if info.peft_type is not None:
        return
    lora_only = sorted(k for k in values if k.startswith("lora_") or k in ("r", "lora_rank"))
    if lora_only:
        raise SweepfirstError(
            f"Hyperparameter(s) {', '.join(lora_only)} only apply to method 'lora' (or another peft "
            f"method); remove them from this {info.name} job."
        )


def _compat(message: str) -> str:
    """The vocabulary's sentence in the words this module always used ("learning_rate=-1.0 is out
    of range"), so that logs and scripts that match them keep working."""
    import re

    out_of_range = re.match(r"Hyperparameter (\w+) is (.+?); \1 must be (.+)\.$", message)
    if out_of_range:
        name, value, requirement = out_of_range.groups()
        if "whole number" in requirement and "." in value and requirement.startswith("a whole"):
            return f"Hyperparameter {name} must be a whole number, got {value}."
        if value in ("True", "False"):
            return f"Hyperparameter {name} must be a finite number, got {value}."
        return f"Hyperparameter {name}={value} is out of range; it must be {requirement}."
    if "not a TrainingArguments field" in message:
        return "Unknown hyperparameter(s): " + message
    return message
