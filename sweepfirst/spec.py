"""A workflow: the experiment design, as pydantic models, loaded from YAML with readable errors."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import zlib
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


class BudgetSpec(_Strict):
    """How much one (task, method) sweep may spend; it stops at the first limit reached.

    The same for every method by default (the workflow's ``budget``): equal budgets are the point
    of the comparison.
    """

    trials: int | None = Field(None, ge=1)
    train_steps: int | None = Field(None, ge=1)
    hours: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _at_least_one_limit(self) -> BudgetSpec:
        if self.trials is None and self.train_steps is None and self.hours is None:
            raise ValueError("a budget needs trials, train_steps or hours")
        return self

    def describe(self) -> str:
        parts = []
        if self.trials is not None:
            parts.append(f"{self.trials} trials")
        if self.train_steps is not None:
            parts.append(f"{self.train_steps:,} training steps")
        if self.hours is not None:
            parts.append(f"{self.hours:g} h")
        return " or ".join(parts)


class MethodSpec(_Strict):
    """One fine-tuning method and its search space, in W&B's sweep-config form."""

    sweep: dict[str, Any] = Field(description="A W&B sweep config (method, metric, parameters, run_cap, early_terminate).")
    #: Fixed hyperparameters added to every trial and production job of this method.
    fixed: dict[str, Any] = Field(default_factory=dict)
    #: The method's peft config (``peft_type`` and fixed fields): ``{peft_type: LORA, use_dora:
    #: true}``. Needed for any method name but full_finetune, head_only and lora.
    peft: dict[str, Any] | None = None
    #: This method's sweep budget; the workflow's ``budget`` when unset.
    budget: BudgetSpec | None = None
    #: The file the sweep came from (``sweep: file.yaml``, ``--sweep-config``): named in messages.
    sweep_file: str | None = None


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
    #: Save each production and baseline job's final model in its folder (``final_model/``; for
    #: peft methods the adapter only); sweep trials never do. Drift analysis reads these.
    save_final_model: bool = True
    #: Also save peft models with the adapter merged into the weights (``final_model_merged/``).
    save_merged_model: bool = False


class DriftSpec(_Strict):
    """How fine-tuning changed the model (``sweepfirst.drift``); ``drift: false`` skips it."""

    enabled: bool = True
    #: Dev examples (a fixed sample, seed 0) whose representations are compared per layer.
    examples: int = Field(256, ge=8, le=100_000)
    #: Intruder dimensions: the top-k singular vectors examined and the cosine threshold
    #: (Shuttleworth et al. 2024's values by default).
    intruder_top_k: int = Field(10, ge=1, le=4096)
    intruder_threshold: float = Field(0.5, gt=0, lt=1)

    @model_validator(mode="before")
    @classmethod
    def _from_bool(cls, value: Any) -> Any:
        # `drift: true` / `drift: false` (and `--set drift=false`) are the usual spellings.
        return {"enabled": value} if isinstance(value, bool) else value


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
    #: Drift analysis between production and report (true by default; false skips it).
    drift: DriftSpec = DriftSpec()
    #: Names the sweep files use -> the vocabulary's (``{my_lr: learning_rate}``; null: ignore
    #: it). Metric names too (``{target_test/f1: eval_f1}``).
    parameter_names: dict[str, str | None] = Field(default_factory=dict)
    #: Every method's sweep budget unless a method sets its own (``--run-cap N`` sets trials).
    budget: BudgetSpec | None = None

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, tasks: list[str]) -> list[str]:
        from sweepfirst.errors import SweepfirstError
        from sweepfirst.tasks import get_task

        for task in tasks:
            try:
                get_task(task)
            except SweepfirstError as error:
                raise SpecError(error.message) from None
        if len(set(tasks)) != len(tasks):
            raise ValueError("tasks must be distinct")
        return tasks

    @model_validator(mode="before")
    @classmethod
    def _precision_from_sweeps(cls, raw: Any) -> Any:
        """``fp16: 1`` / ``bf16: true`` in a sweep (HF scripts take them) set training.precision."""
        return _apply_sweep_precision(raw)

    @model_validator(mode="after")
    def _valid_methods(self) -> Workflow:
        for name, method_spec in self.methods.items():
            method = get_method(name, method_spec.peft)
            where = f"methods.{name}"
            validate_hyperparameters(
                method, method_spec.fixed, where=f"{where}.fixed", parameter_names=self.parameter_names
            )
            sweep_where = method_spec.sweep_file or f"{where}.sweep"
            _validate_search_space(
                method_spec.sweep, method_name=name, where=f"{where}.sweep", workflow=self,
                names_where=sweep_where,
            )
        from sweepfirst.sweep_config import sweep_config_for

        for task in self.tasks:
            for name in self.methods:
                config = sweep_config_for(self, task, name)
                budget = self.method_budget(name)
                where = self.methods[name].sweep_file or f"methods.{name}.sweep"
                if config.total_trials is None and budget is None:
                    raise SpecError(
                        f"{where}: a {config.method} search over a continuous space runs until a "
                        "budget stops it (W&B: until you stop it); add run_cap: N to the sweep, "
                        "budget: {trials: N} (or train_steps / hours) to the workflow, or pass "
                        "--run-cap N."
                    )
                if config.grid_size is not None and config.grid_size > MAX_UNCAPPED_TRIALS and (
                    config.run_cap is None and budget is None
                ):
                    raise SpecError(
                        f"{where}: the space has {config.grid_size:,} configurations, more than "
                        f"{MAX_UNCAPPED_TRIALS:,} trials without a cap; add run_cap: N, a workflow "
                        "budget: {trials: N}, or pass --run-cap N."
                    )
        return self

    def search_seed(self, task: str, method: str) -> int:
        """One reproducible seed per (task, method) sweep, derived from the workflow's search seed."""
        return (self.seeds.search * 1_000_003 + zlib.crc32(f"{task}/{method}".encode())) % (2**31)

    def method_budget(self, method: str) -> BudgetSpec | None:
        """The budget of ``method``'s sweeps: its own, else the workflow's."""
        own = self.methods[method].budget
        return own if own is not None else self.budget

    def budget_warnings(self) -> list[str]:
        """Sentences saying where one method gets a bigger search budget than another."""
        from sweepfirst.sweep_config import sweep_config_for

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
        own = {name: self.method_budget(name) for name in self.methods}
        if len({None if b is None else b.describe() for b in own.values()}) > 1:
            described = ", ".join(f"{m} {b.describe() if b else 'no budget'}" for m, b in own.items())
            warnings.append(f"the methods get unequal budgets ({described}); the comparison favours the larger one.")
        return warnings

    def spec_hash(self) -> str:
        """Identifies the design; a state directory's run belongs to exactly one.

        Fields added since runs were first recorded are left out while they hold their default,
        so a run recorded by an earlier release is still the same design (``sweepfirst run
        WORKFLOW`` continues it). Where a sweep came from (``sweep_file``) is not design at all.
        """
        dumped = self.model_dump(mode="json")
        _drop_defaults(dumped, self, LATER_FIELDS)
        for name, method in self.methods.items():
            dumped["methods"][name].pop("sweep_file", None)
            _drop_defaults(dumped["methods"][name], method, LATER_METHOD_FIELDS)
        canonical = json.dumps(dumped, sort_keys=True)
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


#: A finite space with more configurations than this needs a cap or a budget (one wandb/examples
#: sweep is 14,580 trials).
MAX_UNCAPPED_TRIALS = 1000

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


def _validate_search_space(
    sweep: Mapping[str, Any], *, method_name: str, where: str, workflow: Workflow, names_where: str
) -> None:
    """Parse the W&B config, then check every hyperparameter name (all at once, naming the sweep
    file) and every literal value in it."""
    from sweepfirst.search.config import parse_sweep_config
    from sweepfirst.search.numbers import misread_number, number_from_text
    from sweepfirst.vocabulary import describe_kinds

    try:
        parse_sweep_config(sweep, where=where)
    except SpecError as error:
        if names_where == where:
            raise
        # A sweep file's own mistake names the file.
        raise SpecError(f"{names_where}: {error.message}") from None
    method_spec = workflow.methods[method_name]
    method = get_method(method_name, method_spec.peft)
    parameters = sweep.get("parameters") or {}
    resolution = method.resolve(parameters, where=names_where, parameter_names=workflow.parameter_names)
    for written in resolution.model:
        _check_model_name(parameters[written], workflow.model, where=f"{names_where}: parameters.{written}")
    for written, knob in resolution.knobs.items():
        parameter = parameters[written]
        if not isinstance(parameter, Mapping):
            continue
        if "parameters" in parameter and "dict" not in knob.kinds:
            raise SpecError(
                f"{names_where}: parameters.{written} is a group of nested parameters, but "
                f"{knob.name} takes {describe_kinds(knob.kinds)}; give it value/values, or map the "
                f"group away with parameter_names: {{{written}: null}}."
            )
        for label, value in _literal_values(parameter).items():
            # YAML 1.1 reads 1e-5 as text; the sweep parser reads it as the number it is.
            number = (number_from_text if label in ("min", "max") else misread_number)(value)
            if number is not None and "str" not in knob.kinds:
                value = number
            knob.check(value, f"{where}.parameters.{written}.{label}")
        if knob.category == "peft" and knob.target in method.peft:
            raise SpecError(
                f"{names_where}: parameters.{written} sets {knob.target}, which methods.{method_name}.peft "
                "fixes; set it in one place."
            )


def _check_model_name(parameter: Any, model: str, *, where: str) -> None:
    """model_name_or_path in a sweep must be the workflow's model: sweepfirst loads that one."""
    values = [parameter.get("value")] if isinstance(parameter, Mapping) and "value" in parameter else (
        list(parameter.get("values") or []) if isinstance(parameter, Mapping) else [parameter]
    )
    aliases = {model}
    if model == "bundled-minilm":
        aliases |= {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"}
    wrong = [v for v in values if v not in aliases]
    if wrong:
        raise SpecError(
            f"{where} is {wrong[0]!r} but the workflow trains {model!r}; set model: {wrong[0]} in "
            "the workflow, or map the name away with parameter_names: {model_name_or_path: null} "
            "to use this search space with the workflow's model."
        )


def _apply_sweep_precision(raw: Any) -> Any:
    """A constant, true ``fp16`` or ``bf16`` in any method's sweep sets ``training.precision``
    (one precision per workflow); a swept one, or two that disagree, are refused."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("methods"), Mapping):
        return raw
    names = raw.get("parameter_names")
    mapping: Mapping[str, Any] = names if isinstance(names, Mapping) else {}
    asked: dict[str, str] = {}
    for method, spec in raw["methods"].items():
        sweep = spec.get("sweep") if isinstance(spec, Mapping) else None
        parameters = sweep.get("parameters") if isinstance(sweep, Mapping) else None
        if not isinstance(parameters, Mapping):
            continue
        for written, parameter in parameters.items():
            name = mapping.get(written, written) if written in mapping else written
            if name not in ("fp16", "bf16") or not isinstance(parameter, Mapping):
                continue
            where = (spec.get("sweep_file") or f"methods.{method}.sweep") + f": parameters.{written}"
            if "value" not in parameter:
                raise SpecError(
                    f"{where} is swept, but precision is one setting of the whole workflow; give it "
                    f"one value (value: 1) or set training.precision."
                )
            value = parameter["value"]
            if value is True or value == 1 or (isinstance(value, str) and value.lower() in ("true", "yes")):
                asked[where] = name
    if not asked:
        return raw
    if len(set(asked.values())) > 1:
        raise SpecError(f"{' and '.join(asked)} ask for different precisions; keep one.")
    precision = next(iter(asked.values()))
    given = raw.get("training")
    training: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    current = training.get("precision", "auto")
    if current not in ("auto", precision):
        raise SpecError(
            f"{next(iter(asked))} asks for {precision} but training.precision is {current}; keep one."
        )
    updated = dict(raw)
    updated["training"] = {**training, "precision": precision}
    return updated


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


#: Fields added after the first recorded runs, by dotted path: out of the design hash at their default.
LATER_FIELDS = ("budget", "parameter_names", "drift", "training.save_final_model", "training.save_merged_model")
LATER_METHOD_FIELDS = ("peft", "budget")


def _drop_defaults(dumped: dict[str, Any], model: BaseModel, paths: Sequence[str]) -> None:
    """Remove each dotted field of ``dumped`` whose value equals that field's default."""
    for path in paths:
        *parents, leaf = path.split(".")
        owner: BaseModel = model
        target = dumped
        for parent in parents:
            owner = getattr(owner, parent)
            target = target[parent]
        field = type(owner).model_fields[leaf]
        default = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            default = default.model_dump(mode="json")
        if target.get(leaf) == default:
            target.pop(leaf, None)


def _include_sweep_files(raw: dict[str, Any], base: Path, sweep_files: Mapping[str, Path]) -> None:
    """`sweep: file.yaml` in a workflow, or `--sweep-config METHOD=FILE`: an existing W&B sweep
    YAML, used unchanged."""
    methods = raw.get("methods")
    if not isinstance(methods, dict):
        return
    for method, file in sweep_files.items():
        if method == "":
            # `--sweep-config FILE`: for the one method there is.
            if len(methods) != 1:
                raise SpecError(
                    f"--sweep-config {file} names no method and the workflow has "
                    f"{', '.join(methods)}; write --sweep-config METHOD={file} (or select one "
                    "with --methods)."
                )
            method = next(iter(methods))
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
            spec["sweep_file"] = str(file)


def parse_sweep_config_options(values: Sequence[str]) -> dict[str, Path]:
    """`--sweep-config lora=lora_sweep.yaml` -> {"lora": Path("lora_sweep.yaml")}."""
    parsed = {}
    for value in values:
        method, sep, file = value.partition("=")
        if not sep and value.endswith((".yaml", ".yml", ".json")):
            method, file = "", value  # the one method of the workflow (see _include_sweep_files)
        elif not sep or not method or not file:
            raise SpecError(f"--sweep-config {value!r} is not METHOD=FILE; write it like --sweep-config lora=sweep.yaml.")
        parsed[method] = Path(file)
    return parsed


def load_workflow(
    path: Path, overrides: Sequence[str] = (), sweep_files: Mapping[str, Path] | None = None,
    *, tasks: Sequence[str] | None = None, methods: Sequence[str] | None = None,
) -> Workflow:
    """Read, override and validate a workflow file; ``tasks``/``methods`` (``--tasks``,
    ``--methods``) narrow it before validation, so only what will run is checked."""
    raw = read_yaml_file(path, what="workflow file")
    if not isinstance(raw, dict):
        raise SpecError(f"The workflow file {str(path)!r} must hold a YAML mapping of fields.")
    raw.setdefault("name", path.stem)
    if not overrides:
        _narrow(raw, tasks, methods, path)
        _include_sweep_files(raw, path.parent, sweep_files or {})
        return validate_workflow(raw, source=str(path))
    # Narrowed after the overrides (`--set tasks=[mrpc,rte] --tasks rte` selects what --set added);
    # the file alone, for blaming an override, as far as it has the selection.
    original = copy.deepcopy(raw)
    overridden = apply_overrides(raw, overrides)
    _narrow(overridden, tasks, methods, path)
    _include_sweep_files(overridden, path.parent, sweep_files or {})
    _narrow(original, tasks, methods, path, strict=False)
    _include_sweep_files(original, path.parent, sweep_files or {})
    try:
        return validate_workflow(overridden, source=str(path))
    except SpecError as error:
        culprit = _blame_override(original, overrides, error.message, source=str(path))
        if culprit is None:
            raise
        detail = error.message.removeprefix(f"{path}: ")
        raise SpecError(f"--set {culprit} (on {path}): {detail}") from None


def _narrow(raw: dict[str, Any], tasks: Sequence[str] | None, methods: Sequence[str] | None, path: Path,
            *, strict: bool = True) -> None:
    """Keep only the selected tasks and methods; one outside the design is refused (as in
    :meth:`Workflow.restricted`), or, not ``strict``, left out of the selection."""
    if not strict:
        tasks = [t for t in tasks or [] if t in (raw.get("tasks") or [])] or None
        methods = [m for m in methods or [] if m in (raw.get("methods") or {})] or None
    if tasks and isinstance(raw.get("tasks"), list):
        unknown = [t for t in tasks if t not in raw["tasks"]]
        if unknown:
            listed = ",".join([*raw["tasks"], *unknown])
            raise SpecError(
                f"Task {unknown[0]!r} is not in workflow {path}, which has {', '.join(map(str, raw['tasks']))}; "
                f"add it to the workflow's tasks (or pass --set tasks=[{listed}])."
            )
        raw["tasks"] = list(dict.fromkeys(tasks))
    if methods and isinstance(raw.get("methods"), dict):
        unknown = [m for m in methods if m not in raw["methods"]]
        if unknown:
            raise SpecError(
                f"Method {unknown[0]!r} is not in workflow {path}; choose from "
                f"{', '.join(raw['methods'])} or add it to the workflow."
            )
        raw["methods"] = {m: raw["methods"][m] for m in dict.fromkeys(methods)}


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
