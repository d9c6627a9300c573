"""The fine-tuning methods sweepfirst compares: what each one trains, and its baseline.

A method is ``full_finetune`` (every weight), ``head_only`` (frozen encoder, trained classifier:
the linear-probe baseline), or a peft method given by its peft config (``peft: {peft_type: LORA,
use_dora: true}``); ``lora`` is the built-in peft LoRA. Which hyperparameters a method takes, and
their checks, are the vocabulary's (:mod:`sweepfirst.vocabulary`): the libraries' own names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sweepfirst import vocabulary
from sweepfirst.errors import SpecError

Kind = Literal["full_finetune", "head_only", "peft"]
BUILTIN = ("full_finetune", "head_only", "lora")

#: What a researcher would run without a sweep (run_glue's defaults; peft's LoRA defaults).
_FULL_BASELINE = {"learning_rate": 2e-5, "per_device_train_batch_size": 32, "num_train_epochs": 3, "warmup_ratio": 0.0}
#: A linear probe trains only a fresh head: a larger step (as in the probing literature).
_HEAD_BASELINE = {**_FULL_BASELINE, "learning_rate": 1e-3}
_PEFT_BASELINE = {**_FULL_BASELINE, "learning_rate": 1e-4}
_LORA_BASELINE = {**_PEFT_BASELINE, "lora_r": 8, "lora_alpha": 8, "lora_dropout": 0.0}

#: Hyperparameters every job needs; a sweep that leaves one out gets the baseline's value.
REQUIRED = ("learning_rate", "per_device_train_batch_size", "num_train_epochs")


@dataclass(frozen=True)
class Method:
    """One method of a workflow: its name, what it trains, and its peft definition."""

    name: str
    kind: Kind
    #: The peft config's fixed fields (peft_type included) for kind ``peft``; empty otherwise.
    peft: Mapping[str, Any] = field(default_factory=dict)

    @property
    def peft_type(self) -> str | None:
        return str(self.peft["peft_type"]) if self.kind == "peft" else None

    @property
    def export_label(self) -> str:
        """The label in exported variable names: full_finetune -> FULLFINETUNE (the seed's)."""
        return re.sub(r"[^A-Z0-9]+", "", self.name.upper())

    @property
    def baseline(self) -> dict[str, Any]:
        if self.kind == "full_finetune":
            return dict(_FULL_BASELINE)
        if self.kind == "head_only":
            return dict(_HEAD_BASELINE)
        if vocabulary.is_lora_family(self.peft_type):
            # Only what the peft definition does not fix itself.
            fixed = {"lora_r" if k == "r" else k for k in self.peft}
            return {k: v for k, v in _LORA_BASELINE.items() if k not in fixed}
        return dict(_PEFT_BASELINE)

    def knob(self, name: str) -> vocabulary.Knob | None:
        return vocabulary.knob(name, self.peft_type)

    def hyperparameter(self, name: str) -> vocabulary.Knob | None:
        """The knob of canonical ``name`` (kept for callers of the old per-method lists)."""
        return self.knob(name)

    def resolve(
        self, names: Any, *, where: str, parameter_names: Mapping[str, str | None] | None = None
    ) -> vocabulary.Resolution:
        return vocabulary.resolve(
            names, peft_type=self.peft_type, method=self.name, parameter_names=parameter_names, where=where
        )


def get_method(name: str, peft: Mapping[str, Any] | None = None) -> Method:
    """The method called ``name``, defined by ``peft`` (its workflow's ``peft:`` block) if given.

    Raises:
        SpecError: an unknown name without a peft config, or a peft config peft does not know.
    """
    if peft:
        return Method(name, "peft", _check_peft(name, peft))
    if name == "full_finetune":
        return Method(name, "full_finetune")
    if name == "head_only":
        return Method(name, "head_only")
    if name == "lora":
        return Method(name, "peft", {"peft_type": "LORA"})
    raise SpecError(
        f"Unknown method {name!r}; choose from {', '.join(BUILTIN)}, or define it by its peft "
        f"config (methods.{name}.peft: {{peft_type: LORA, use_dora: true}}; peft types: "
        f"{', '.join(vocabulary.peft_types()[:8])} ...)."
    )


def _check_peft(name: str, peft: Mapping[str, Any]) -> dict[str, Any]:
    where = f"methods.{name}.peft"
    if name in ("full_finetune", "head_only"):
        raise SpecError(f"{where}: {name} trains without an adapter; remove its peft block or rename the method.")
    raw_type = peft.get("peft_type")
    if not isinstance(raw_type, str):
        raise SpecError(f"{where} has no peft_type; add one, e.g. peft_type: LORA.")
    peft_type = raw_type.upper().replace("-", "_")
    if peft_type not in vocabulary.peft_types():
        close = [t for t in vocabulary.peft_types() if t.startswith(peft_type[:3])]
        raise SpecError(
            f"{where}.peft_type is {raw_type!r}, which the installed peft does not know; use one of "
            f"{', '.join(close or vocabulary.peft_types()[:12])}."
        )
    checked: dict[str, Any] = {"peft_type": peft_type}
    fields = {k: v for k, v in peft.items() if k != "peft_type"}
    resolution = vocabulary.resolve(fields, peft_type=peft_type, method=name, where=where)
    for written, value in fields.items():
        found = resolution.knobs.get(written)
        if found is None or found.category != "peft":
            raise SpecError(
                f"{where}.{written} is not a field of peft's {peft_type} config; put training "
                f"settings in methods.{name}.fixed or its sweep."
            )
        checked[found.target] = found.check(value, f"{where}.{written}")
    return checked


def validate_hyperparameters(
    method: Method, values: Mapping[str, Any], *, where: str,
    parameter_names: Mapping[str, str | None] | None = None,
) -> None:
    """Raise SpecError for unknown names (all at once) or a value that makes no sense."""
    resolution = method.resolve(values, where=where, parameter_names=parameter_names)
    for written, found in resolution.knobs.items():
        found.check(values[written], f"{where}.{written}")
    _check_not_in_definition(method, resolution, where)


def _check_not_in_definition(method: Method, resolution: vocabulary.Resolution, where: str) -> None:
    for written, found in resolution.knobs.items():
        if found.category == "peft" and found.target in method.peft:
            raise SpecError(
                f"{where}.{written}: {found.target} is fixed by methods.{method.name}.peft; set it "
                "in one place, the peft block or the sweep."
            )


def canonical_hyperparameters(
    method: Method, values: Mapping[str, Any], parameter_names: Mapping[str, str | None] | None = None
) -> dict[str, Any]:
    """``values`` under their canonical names, values checked; names with no effect dropped."""
    resolution = method.resolve(values, where="hyperparameters", parameter_names=parameter_names)
    return {
        found.name: found.check(values[written], f"hyperparameters.{written}")
        for written, found in resolution.knobs.items()
    }


def complete_hyperparameters(method: Method, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values given (canonical names), plus the baseline's for any left out; ints where ints."""
    completed: dict[str, Any] = dict(method.baseline)
    given = canonical_hyperparameters(method, values)
    if "warmup_steps" in given:
        completed.pop("warmup_ratio", None)
    completed.update(given)
    for name, value in list(completed.items()):
        found = method.knob(name)
        if found is not None and found.integer and isinstance(value, float) and value.is_integer():
            completed[name] = int(value)
    return completed
