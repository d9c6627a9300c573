"""A workflow: the experiment design, as pydantic models, loaded from YAML with readable errors."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sweepfirst.errors import SpecError
from sweepfirst.methods import get_method, validate_hyperparameters

DEFAULT_WORKFLOW = Path("workflows/default.yaml")
DEFAULT_PRODUCTION_SEEDS = (42, 1337, 2024)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MethodSpec(_Strict):
    """One fine-tuning method and its search space, in W&B's sweep-config form."""

    sweep: dict[str, Any] = Field(description="A W&B sweep config (method, metric, parameters, run_cap, early_terminate).")
    #: Fixed hyperparameters added to every trial and production job of this method.
    fixed: dict[str, Any] = Field(default_factory=dict)


class SeedsSpec(_Strict):
    #: Every sweep trial trains once per sweep seed; its score is the mean.
    sweep: list[int] = Field(default_factory=lambda: [0], min_length=1)
    production: list[int] = Field(default_factory=lambda: list(DEFAULT_PRODUCTION_SEEDS), min_length=1)
    #: Seeds the search strategy (grid order, random draws, TPE), so a sweep's trials are reproducible.
    search: int = 0

    @field_validator("sweep", "production")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be distinct")
        return seeds


class SelectionSpec(_Strict):
    """Where sweep trials are scored. ``train_holdout`` keeps the reported dev split untouched."""

    split: Literal["train_holdout", "dev"] = "train_holdout"
    fraction: float = Field(0.1, gt=0, lt=0.5)
    seed: int = 0


class DataSpec(_Strict):
    #: "auto": the local folder when one is given (or SWEEPFIRST_DATA_DIR is set), else the Hub.
    source: Literal["auto", "hub", "local"] = "auto"
    dir: Path | None = None
    max_train_samples: int | None = Field(None, ge=8)
    max_eval_samples: int | None = Field(None, ge=8)
    max_seq_length: int = Field(128, ge=16, le=4096)


class TrainingSpec(_Strict):
    evaluations_per_epoch: int = Field(1, ge=1, le=100)
    #: Attempts whose training code raises before a job fails. Lost attempts (a dead worker, an
    #: expired lease, out of memory) and interrupts never count (see sweepfirst.attempts).
    max_attempts: int = Field(2, ge=1, le=20)
    #: Deaths of its worker in a row at the same training step that make a job a poison job.
    max_losses_at_same_step: int = Field(3, ge=1, le=100)
    lease_seconds: float = Field(120.0, ge=2)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    save_checkpoints: bool = True
    #: Keep a succeeded job's checkpoints (they only serve resuming; MiniLM's are ~270 MB each).
    #: Pruned jobs always keep theirs, so a later promotion could continue them.
    keep_checkpoints: bool = False


class WandbSpec(_Strict):
    mode: Literal["auto", "online", "offline", "disabled"] = "auto"
    project: str = "sweepfirst"
    entity: str | None = None
    tags: list[str] = Field(default_factory=list)


class Workflow(_Strict):
    """The whole design of a comparison."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    model: str
    tasks: list[str] = Field(min_length=1)
    methods: dict[str, MethodSpec] = Field(min_length=1)
    seeds: SeedsSpec = SeedsSpec()
    selection: SelectionSpec = SelectionSpec()
    data: DataSpec = DataSpec()
    training: TrainingSpec = TrainingSpec()
    wandb: WandbSpec = WandbSpec()
    #: Also train each method with default hyperparameters on the production seeds.
    baseline: bool = False

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, tasks: list[str]) -> list[str]:
        from sweepfirst.errors import SweepfirstError
        from sweepfirst.training.tasks import get_task

        for task in tasks:
            try:
                get_task(task)
            except SweepfirstError as error:
                raise SpecError(error.message) from None
        if len(set(tasks)) != len(tasks):
            raise ValueError("tasks must be distinct")
        return tasks

    @model_validator(mode="after")
    def _valid_methods(self) -> Workflow:
        for name, method_spec in self.methods.items():
            method = get_method(name)
            where = f"methods.{name}"
            validate_hyperparameters(method, method_spec.fixed, where=f"{where}.fixed")
            _validate_search_space(method_spec.sweep, method_name=name, where=f"{where}.sweep")
        from sweepfirst.engine.sweep_config import sweep_config_for

        for task in self.tasks:
            for name in self.methods:
                if sweep_config_for(self, task, name).total_trials is None:
                    raise SpecError(
                        f"methods.{name}.sweep would never end: a random or bayes search over a "
                        "continuous space needs run_cap; add run_cap: N."
                    )
        return self

    def budget_warnings(self) -> list[str]:
        """Sentences saying where one method gets a bigger search budget than another."""
        from sweepfirst.engine.sweep_config import sweep_config_for

        warnings = []
        for task in self.tasks:
            budgets = {}
            for name in self.methods:
                config = sweep_config_for(self, task, name)
                early = config.early_terminate
                budgets[name] = (config.total_trials, None if early is None else (early.min_iter, early.max_iter, early.s, early.eta))
            if len({b[0] for b in budgets.values()}) > 1:
                described = ", ".join(f"{m} {b[0]} trials" for m, b in budgets.items())
                warnings.append(f"{task}: the methods get unequal sweep budgets ({described}); the comparison favours the larger one.")
            if len({b[1] for b in budgets.values()}) > 1:
                warnings.append(f"{task}: the methods use different early termination; their sweeps are not equally thorough.")
        return warnings

    def spec_hash(self) -> str:
        """Identifies the design; a state directory's run belongs to exactly one."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def restricted(self, tasks: Sequence[str] | None, methods: Sequence[str] | None) -> Workflow:
        """This workflow limited to the given tasks and methods (from --tasks / --methods)."""
        raw = self.model_dump(mode="python")
        if tasks:
            # Refused like an unlisted method: a task outside the design would get a run (and a
            # spec hash) the workflow file does not describe.
            unknown_tasks = [t for t in tasks if t not in self.tasks]
            if unknown_tasks:
                listed = ",".join([*self.tasks, *unknown_tasks])  # no spaces: one shell word
                raise SpecError(
                    f"Task {unknown_tasks[0]!r} is not in workflow {self.name!r}, which has "
                    f"{', '.join(self.tasks)}; add it to the workflow's tasks (or pass "
                    f"--set tasks=[{listed}])."
                )
            raw["tasks"] = list(dict.fromkeys(tasks))
        if methods:
            unknown = [m for m in methods if m not in self.methods]
            if unknown:
                raise SpecError(
                    f"Method {unknown[0]!r} is not in workflow {self.name!r}; "
                    f"choose from {', '.join(self.methods)} or add it to the workflow."
                )
            raw["methods"] = {m: raw["methods"][m] for m in dict.fromkeys(methods)}
        return validate_workflow(raw, source=f"workflow {self.name!r}")


_LOG_SPACE_PREFIXES = ("log_uniform", "q_log_uniform", "inv_log_uniform", "log_normal", "q_log_normal")


def _literal_values(parameter: Mapping[str, Any]) -> dict[str, Any]:
    """The values a parameter spec states in value space (log-space bounds are not values)."""
    literals: dict[str, Any] = {}
    if "value" in parameter:
        literals["value"] = parameter["value"]
    for i, value in enumerate(parameter.get("values") or []):
        literals[f"values[{i}]"] = value
    distribution = str(parameter.get("distribution", ""))
    in_log_space = distribution.startswith(_LOG_SPACE_PREFIXES) and not distribution.endswith("_values")
    if not in_log_space and distribution not in ("normal", "q_normal", "beta", "q_beta"):
        for bound in ("min", "max"):
            if bound in parameter:
                literals[bound] = parameter[bound]
    return literals


def _validate_search_space(sweep: Mapping[str, Any], *, method_name: str, where: str) -> None:
    """Parse the W&B config, then check every hyperparameter name and literal value in it."""
    from sweepfirst.search.config import parse_sweep_config

    parse_sweep_config(sweep, where=where)
    method = get_method(method_name)
    for name, parameter in (sweep.get("parameters") or {}).items():
        spec = method.hyperparameter(name)
        if spec is None:
            validate_hyperparameters(method, {name: None}, where=f"{where}.parameters")
            continue
        if not isinstance(parameter, Mapping):
            continue
        for label, value in _literal_values(parameter).items():
            if spec.integer and isinstance(value, float) and value.is_integer():
                value = int(value)
            if not spec.is_valid(value):
                raise SpecError(
                    f"{where}.parameters.{name}.{label} is {value!r}; {name} must be {spec.requirement}."
                )


def _format_validation_error(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = first["msg"]
    message = message.removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown field {location!r}; remove it or check its spelling."
    if first["type"] == "missing":
        return f"{source}: the field {location!r} is required; add it."
    return f"{source}: field {location!r} is invalid ({message}); fix it and run again."


def validate_workflow(raw: Mapping[str, Any], *, source: str) -> Workflow:
    if not isinstance(raw, Mapping):
        raise SpecError(f"{source} must be a YAML mapping of fields (name, model, tasks, methods, ...).")
    try:
        return Workflow.model_validate(raw)
    except SpecError as error:
        raise SpecError(f"{source}: {error.message}") from None
    except ValidationError as error:
        # A SpecError raised inside a validator keeps its own sentence.
        for detail in error.errors():
            cause = (detail.get("ctx") or {}).get("error")
            if isinstance(cause, SpecError):
                raise SpecError(f"{source}: {cause.message}") from None
        raise SpecError(_format_validation_error(error, source)) from None


def parse_override(assignment: str) -> tuple[list[str], Any]:
    """`data.max_train_samples=512` -> (["data", "max_train_samples"], 512); values are YAML."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip() or "" in [part.strip() for part in key.split(".")]:
        raise SpecError(f"--set {assignment!r} is not KEY=VALUE; write it like --set data.max_train_samples=512.")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    return [part.strip() for part in key.split(".")], value


def apply_overrides(raw: dict[str, Any], assignments: Sequence[str]) -> dict[str, Any]:
    """Set dotted keys in a raw workflow dict (before validation, so errors name the field)."""
    for assignment in assignments:
        path, value = parse_override(assignment)
        node: Any = raw
        for part in path[:-1]:
            child = node.get(part) if isinstance(node, dict) else None
            if child is None:
                child = {}
                node[part] = child
            if not isinstance(child, dict):
                raise SpecError(f"--set {assignment!r}: {part!r} is not a section; check the key path.")
            node = child
        node[path[-1]] = value
    return raw


def read_yaml_file(path: Path, *, what: str) -> Any:
    if not path.is_file():
        raise SpecError(f"The {what} {str(path)!r} does not exist; pass the path of a YAML file.")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SpecError(f"The {what} {str(path)!r} is not valid YAML{where}; fix its syntax.") from None


def _include_sweep_files(raw: dict[str, Any], base: Path, sweep_files: Mapping[str, Path]) -> None:
    """`sweep: file.yaml` in a workflow, or `--sweep-config METHOD=FILE`: an existing W&B sweep
    YAML, used unchanged."""
    methods = raw.get("methods")
    if not isinstance(methods, dict):
        return
    for method, file in sweep_files.items():
        methods.setdefault(method, {})
        if not isinstance(methods[method], dict):
            methods[method] = {}
        methods[method]["sweep"] = str(file)
    for method, spec in methods.items():
        if isinstance(spec, dict) and isinstance(spec.get("sweep"), str):
            file = Path(spec["sweep"])
            if not file.is_absolute() and not file.exists():
                file = base / file
            loaded = read_yaml_file(file, what=f"sweep config of {method}")
            if not isinstance(loaded, dict):
                raise SpecError(f"The sweep config {str(file)!r} of {method} must be a YAML mapping (a W&B sweep config).")
            spec["sweep"] = loaded


def parse_sweep_config_options(values: Sequence[str]) -> dict[str, Path]:
    """`--sweep-config lora=lora_sweep.yaml` -> {"lora": Path("lora_sweep.yaml")}."""
    parsed = {}
    for value in values:
        method, sep, file = value.partition("=")
        if not sep or not method or not file:
            raise SpecError(f"--sweep-config {value!r} is not METHOD=FILE; write it like --sweep-config lora=sweep.yaml.")
        parsed[method] = Path(file)
    return parsed


def load_workflow(
    path: Path, overrides: Sequence[str] = (), sweep_files: Mapping[str, Path] | None = None
) -> Workflow:
    """Read, override and validate a workflow file."""
    raw = read_yaml_file(path, what="workflow file")
    if not isinstance(raw, dict):
        raise SpecError(f"The workflow file {str(path)!r} must hold a YAML mapping of fields.")
    raw.setdefault("name", path.stem)
    _include_sweep_files(raw, path.parent, sweep_files or {})
    if not overrides:
        return validate_workflow(raw, source=str(path))
    original = copy.deepcopy(raw)
    overridden = apply_overrides(raw, overrides)
    try:
        return validate_workflow(overridden, source=str(path))
    except SpecError as error:
        culprit = _blame_override(original, overrides, error.message, source=str(path))
        if culprit is None:
            raise
        detail = error.message.removeprefix(f"{path}: ")
        raise SpecError(f"--set {culprit} (on {path}): {detail}") from None


def _override_key(assignment: str) -> str:
    return assignment.partition("=")[0].strip()


def _blame_override(
    original: dict[str, Any], overrides: Sequence[str], message: str, *, source: str
) -> str | None:
    """The --set assignment a validation error comes from; None when the file itself is at fault.

    The error names a field: the override of that field (or of a section above it) is the one.
    Otherwise, when the file is valid on its own, the first override that breaks it alone is.
    """
    detail = message.removeprefix(f"{source}: ")  # the file's own path may contain a key
    for assignment in overrides:
        key = _override_key(assignment)
        if re.search(rf"(?<![\w.]){re.escape(key)}(?!\w)", detail):
            return assignment
    try:
        validate_workflow(copy.deepcopy(original), source=source)
    except SpecError:
        return None  # the file is invalid without any override: its own error stands
    for assignment in overrides:
        try:
            validate_workflow(apply_overrides(copy.deepcopy(original), [assignment]), source=source)
        except SpecError:
            return assignment
    return " --set ".join(overrides)  # only together do they break it
