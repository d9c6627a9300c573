"""The analysis exports in the seed format: optimal_hyperparameters.yaml and optimal_hyperparams.sh.

The YAML can be handed back with `sweepfirst run --phase production --optimal-config FILE`.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sweepfirst.errors import SpecError
from sweepfirst.files import write_atomic
from sweepfirst.methods import complete_hyperparameters, get_method, validate_hyperparameters
from sweepfirst.store.models import Selection
from sweepfirst.vocabulary import EXPORT_SUFFIXES

YAML_NAME = "optimal_hyperparameters.yaml"
SHELL_NAME = "optimal_hyperparams.sh"
#: The order of hyperparameters in exports; the seed format names these four first.
EXPORT_ORDER = (
    "learning_rate",
    "per_device_train_batch_size",
    "warmup_ratio",
    "num_train_epochs",
    "weight_decay",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
)
_SPLIT_DESCRIPTIONS = {
    "train_holdout": "selection split (held out of train; never the reported dev split)",
    "dev": "GLUE dev split (the same split production reports: optimistic)",
}


@dataclass(frozen=True)
class ChosenConfig:
    task: str
    method: str
    hyperparameters: dict[str, Any]


def _ordered(hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    known = [k for k in EXPORT_ORDER if k in hyperparameters]
    return {k: hyperparameters[k] for k in [*known, *sorted(set(hyperparameters) - set(known))]}


def export_variable_prefix(task: str, method: str) -> str:
    """mrpc + full_finetune -> MRPC_FULLFINETUNE; squad_v2 + lora -> SQUAD_V2_LORA; dora -> DORA."""
    task_label = re.sub(r"[^A-Z0-9]+", "_", task.upper()).strip("_")
    return f"{task_label}_{re.sub(r'[^A-Z0-9]+', '', method.upper())}"


def _shell_value(value: Any) -> str:
    """Lists and mappings (target_modules) as JSON, booleans as the Trainer's CLI spells them."""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def write_exports(selections: Mapping[tuple[str, str], Selection], output_dir: Path, *, run_name: str) -> list[Path]:
    """Write both export files; every number says which split it comes from."""
    document: dict[str, Any] = {"optimal_hyperparameters": {}}
    lines = [
        "# Optimal hyperparameters chosen by sweepfirst; `source` this file.",
        f"# run: {run_name}",
    ]
    for (task, method), selection in sorted(selections.items()):
        split = _SPLIT_DESCRIPTIONS.get(selection.split, selection.split)
        expected = {
            k: round(float(v), 6) for k, v in sorted(selection.metrics.items()) if k.startswith("eval_") and not k.endswith(("_runtime", "_per_second", "_loss"))
        }
        document["optimal_hyperparameters"].setdefault(task, {})[method] = {
            "hyperparameters": _ordered(selection.hyperparameters),
            "expected_performance": expected,
            "measured_on": split,
            "selection_metric": selection.metric,
            "chosen_by": selection.source,
        }
        prefix = export_variable_prefix(task, method)
        lines.append(f"# {task}/{method}: {selection.metric}={selection.score} on the {split}")
        for name, value in _ordered(selection.hyperparameters).items():
            # The seed's suffixes for the seed's names (LR, BS, WU ...); any other swept name in
            # capitals (GRADIENT_ACCUMULATION_STEPS, LR_SCHEDULER_TYPE, USE_DORA ...).
            suffix = EXPORT_SUFFIXES.get(name) or re.sub(r"[^A-Z0-9]+", "_", name.upper())
            lines.append(f"export {prefix}_{suffix}={shlex.quote(_shell_value(value))}")
    yaml_path, shell_path = output_dir / YAML_NAME, output_dir / SHELL_NAME
    write_atomic(yaml_path, yaml.safe_dump(document, sort_keys=False))
    write_atomic(shell_path, "\n".join(lines) + "\n")
    return [yaml_path, shell_path]


def read_optimal_config(
    path: Path, peft_definitions: Mapping[str, Mapping[str, Any] | None] | None = None
) -> list[ChosenConfig]:
    """Read an optimal_hyperparameters.yaml (ours, or written by hand in the same format).

    ``peft_definitions``: method -> its workflow ``peft:`` block, for methods other than the
    built-in ones.
    """
    from sweepfirst.spec import read_yaml_file

    raw = read_yaml_file(path, what="optimal-config file")
    cells = raw.get("optimal_hyperparameters") if isinstance(raw, dict) else None
    if not isinstance(cells, dict):
        raise SpecError(
            f"{path} has no 'optimal_hyperparameters' mapping; export one with "
            "`sweepfirst analyze --export-optimal-configs --output-dir DIR`."
        )
    chosen = []
    for task, methods in cells.items():
        for method, cell in (methods or {}).items():
            where = f"{path}: optimal_hyperparameters.{task}.{method}"
            if not isinstance(cell, dict) or not isinstance(cell.get("hyperparameters"), dict):
                raise SpecError(f"{where} needs a 'hyperparameters' mapping.")
            info = get_method(method, (peft_definitions or {}).get(method))
            validate_hyperparameters(info, cell["hyperparameters"], where=f"{where}.hyperparameters")
            chosen.append(ChosenConfig(task, method, complete_hyperparameters(info, cell["hyperparameters"])))
    return chosen
