"""A whole W&B sweep file, parsed and checked offline: :func:`parse_sweep_config`.

An existing W&B sweep YAML is accepted unchanged. Keys that only W&B's own agent or server use
(``program``, ``command``, ``entity``...) are accepted and listed in
:attr:`SweepConfig.unused_keys` so the caller can tell the user they have no effect here. What W&B
accepts but warns about (the ``log_uniform`` family, whose bounds are exponents) is accepted and
described in :attr:`SweepConfig.warnings`. Unknown keys anywhere in the file are reported together,
in one error.

The metric name is kept in the form the HF Trainer reports it: ``eval/accuracy``, the spelling W&B's
HF integration logs, means ``eval_accuracy`` (:func:`canonical_metric_name`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from sweepfirst.search._checks import (
    UnknownKey,
    key_path,
    require_choice,
    require_int,
    require_mapping,
    require_number,
    spec_error,
    unknown_keys,
    unknown_keys_error,
)
from sweepfirst.search.distributions import FINITE, Distribution, Param
from sweepfirst.search.parameters import parse_parameters, unknown_parameter_keys

Method = Literal["grid", "random", "bayes"]
Goal = Literal["minimize", "maximize"]
Impute = Literal["worst", "best", "latest"]
#: How hyperband decides; see :class:`EarlyTerminate` and :mod:`sweepfirst.search.hyperband`.
HyperbandRule = Literal["asha", "wandb_strict"]

#: Top-level keys that only matter to W&B's agent, server or UI.
AGENT_ONLY_KEYS = (
    "program",
    "command",
    "entity",
    "project",
    "name",
    "description",
    "controller",
    "job",
    "image_uri",
    "apiVersion",
    "kind",
)
_SEARCH_KEYS = ("method", "metric", "parameters", "run_cap", "early_terminate")
_METRIC_KEYS = ("name", "goal", "target", "impute", "impute_while_running")
_HYPERBAND_KEYS = ("type", "min_iter", "max_iter", "s", "eta", "strict")

#: W&B's deprecated log-space distributions and the value-space ones it tells users to use instead
#: (``sweeps/params.py``, ``PARAM_DEPRECATION_MAP``).
_LOG_SPACE_REPLACEMENTS = {
    Distribution.LOG_UNIFORM: Distribution.LOG_UNIFORM_VALUES,
    Distribution.INV_LOG_UNIFORM: Distribution.INV_LOG_UNIFORM_VALUES,
    Distribution.Q_LOG_UNIFORM: Distribution.Q_LOG_UNIFORM_VALUES,
}

#: Prefixes W&B's HF integration writes for the Trainer's ``eval_``/``test_`` metrics.
_SLASH_PREFIXES = ("eval/", "test/")


@dataclass(frozen=True)
class Metric:
    """What the sweep optimizes.

    ``target``: once any trial reaches it, no new trials are proposed (W&B's rule).
    ``impute``: the score a failed trial counts as for bayes (W&B's default: the worst seen).
    """

    name: str
    goal: Goal = "minimize"
    target: float | None = None
    impute: Impute = "worst"

    def better(self, a: float, b: float) -> bool:
        """True if score ``a`` is strictly better than ``b`` for this goal."""
        return a < b if self.goal == "minimize" else a > b

    def reached(self, score: float) -> bool:
        """True if ``score`` meets the target (never, when there is none)."""
        if self.target is None or math.isnan(score):
            return False
        return score <= self.target if self.goal == "minimize" else score >= self.target


@dataclass(frozen=True)
class EarlyTerminate:
    """W&B's ``early_terminate: {type: hyperband, ...}`` block, defaults filled.

    Either ``min_iter`` is set, or ``max_iter`` and ``s`` are (if all three are given, W&B uses
    ``max_iter``/``s`` and so do we). ``strict`` defaults to True as in W&B's schema.

    ``rule`` is ``"wandb_strict"`` only when the file says ``strict: true``: the user asked for
    W&B's strict stopper by name, and gets it. Otherwise it is ``"asha"``, sweepfirst's documented
    default (pauses, promotions, ``eval_loss`` tie-breaks), where ``strict: false`` keeps one more
    trial per rung. See :mod:`sweepfirst.search.hyperband`.
    """

    min_iter: int | None = None
    max_iter: int | None = None
    s: int | None = None
    eta: float = 3.0
    strict: bool = True
    rule: HyperbandRule = "asha"


@dataclass(frozen=True)
class SweepConfig:
    """A parsed W&B sweep config.

    ``parameters`` is flat and sorted by path; proposals are nested dicts built from the paths.
    ``unused_keys`` lists, as key paths, what was accepted but has no effect here. ``warnings``
    are sentences W&B would also warn with (its "Malformed sweep config detected!" violations);
    the caller shows them to the user.
    """

    method: Method
    parameters: tuple[Param, ...]
    metric: Metric | None = None
    run_cap: int | None = None
    early_terminate: EarlyTerminate | None = None
    unused_keys: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    #: Parameters accepted with no effect here, and why: ``("output_dir", "set by sweepfirst")``.
    ignored: tuple[tuple[str, str], ...] = ()
    #: Names written otherwise than the vocabulary's: (as written, canonical).
    renamed: tuple[tuple[str, str], ...] = ()

    def describe_ignored(self) -> str:
        """``do_train, output_dir (set by sweepfirst); model_name_or_path (the workflow's model)``."""
        return describe_ignored(self.ignored)

    def values_of(self, param: Param) -> Sequence[Any] | None:
        """Every value ``param`` takes in this sweep, or ``None`` if it is continuous.

        For grid, what W&B's grid enumerates (:meth:`Param.grid_values`); otherwise what a draw
        can give (:meth:`Param.finite_values`). The two differ for ``q_uniform``.
        """
        return param.grid_values() if self.method == "grid" else param.finite_values()

    def in_space(self, param: Param, value: Any) -> bool:
        """Whether ``value`` is one of :meth:`values_of` ``param``."""
        return param.in_grid(value) if self.method == "grid" else param.contains(value)

    @property
    def grid_size(self) -> int | None:
        """How many configurations the space has, or ``None`` if some parameter is continuous."""
        size = 1
        for param in self.parameters:
            values = self.values_of(param)
            if values is None:
                return None
            size *= len(values)
        return size

    @property
    def total_trials(self) -> int | None:
        """How many trials the sweep will run.

        The number of configurations when every parameter is finite (always so for grid),
        capped by ``run_cap``; otherwise ``run_cap``. ``None`` means random or bayes over a
        continuous space without ``run_cap``: the sweep never ends by itself and the caller must
        decide how many trials to run.
        """
        size = self.grid_size
        if size is None:
            return self.run_cap
        return size if self.run_cap is None else min(size, self.run_cap)


def parse_sweep_config(raw: Mapping[str, Any], *, where: str) -> SweepConfig:
    """Parse a W&B sweep config (a YAML file already loaded as a dict).

    ``where`` is the key path of the config in the caller's file (``methods.lora.sweep``); every
    ``SpecError`` names the offending key under it and says how to fix it.
    """
    config = require_mapping(raw, where or "sweep", "{method: random, parameters: {...}}")
    found = _unknown_keys(config, where)
    if found:
        raise unknown_keys_error(found, where)
    unused = [key_path(where, key) for key in AGENT_ONLY_KEYS if key in config]

    if "method" not in config:
        raise spec_error(
            key_path(where, "method"),
            "the sweep has no method",
            "add method: grid, random or bayes",
        )
    method_path = key_path(where, "method")
    if config["method"] == "custom":
        raise spec_error(
            method_path, "custom (external) search is not supported", "use grid, random or bayes"
        )
    method = cast(
        Method, require_choice(config["method"], method_path, ("grid", "random", "bayes"))
    )

    if "parameters" not in config:
        raise spec_error(
            key_path(where, "parameters"), "the sweep has no parameters", "add a parameters block"
        )
    params_path = key_path(where, "parameters")
    parameters = parse_parameters(config["parameters"], params_path)

    metric = None
    if "metric" in config:
        metric = _parse_metric(config["metric"], key_path(where, "metric"), unused)

    run_cap = None
    if "run_cap" in config:
        run_cap = require_int(config["run_cap"], key_path(where, "run_cap"), minimum=1)

    early_terminate = None
    if "early_terminate" in config:
        early_terminate = _parse_hyperband(
            config["early_terminate"], key_path(where, "early_terminate"), unused
        )

    if method == "grid":
        _check_grid(parameters, params_path)
    if metric is None and method == "bayes":
        raise spec_error(
            key_path(where, "metric"),
            "bayes search needs a metric",
            "add metric: {name: <metric>, goal: minimize}",
        )
    if metric is None and early_terminate is not None:
        raise spec_error(
            key_path(where, "metric"),
            "hyperband early termination needs a metric",
            "add metric: {name: <metric>, goal: minimize}",
        )
    return SweepConfig(
        method=method,
        parameters=parameters,
        metric=metric,
        run_cap=run_cap,
        early_terminate=early_terminate,
        unused_keys=tuple(unused),
        warnings=tuple(_log_space_warnings(parameters, params_path)),
    )


def describe_ignored(ignored: Sequence[tuple[str, str]]) -> str:
    """(name, why) pairs grouped by why: ``do_train, output_dir (set by sweepfirst); ...``."""
    by_reason: dict[str, list[str]] = {}
    for name, reason in ignored:
        by_reason.setdefault(reason, []).append(name)
    return "; ".join(f"{', '.join(names)} ({reason})" for reason, names in by_reason.items())


def canonical_metric_name(name: str) -> str:
    """``eval/accuracy`` -> ``eval_accuracy``: the Trainer's spelling of a metric W&B logs with ``/``.

    W&B's HF integration renames the Trainer's ``eval_x`` to ``eval/x`` (and ``test_x`` to
    ``test/x``) when it logs, so W&B sweep files name metrics that way. Other names are kept;
    ``train/...`` is not mapped, since the Trainer's ``loss`` is the training loss.
    """
    for prefix in _SLASH_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return f"{prefix[:-1]}_{name[len(prefix):]}"
    return name


def _unknown_keys(config: Mapping[str, Any], where: str) -> list[UnknownKey]:
    """Every unknown key of the sweep, its metric, its early_terminate and its parameter specs."""
    found = unknown_keys(config, (*_SEARCH_KEYS, *AGENT_ONLY_KEYS), where, "a W&B sweep config")
    for key, allowed, what in (
        ("metric", _METRIC_KEYS, "metric"),
        ("early_terminate", _HYPERBAND_KEYS, "early_terminate"),
    ):
        block = config.get(key)
        if isinstance(block, Mapping):
            found += unknown_keys(block, allowed, key_path(where, key), what)
    found += unknown_parameter_keys(config.get("parameters"), key_path(where, "parameters"))
    return found


def _log_space_warnings(parameters: Sequence[Param], path: str) -> list[str]:
    """W&B's deprecation warning for each ``log_uniform``-family parameter, with the range it gives.

    W&B warns on every use (``sweeps/config/schema.py``, ``check_for_deprecated_distributions``),
    whatever the bounds; the range makes the usual mistake -- value bounds such as 1e-5 and 1e-3,
    which propose numbers near 1.0 -- visible.
    """
    warnings = []
    for param in parameters:
        replacement = _LOG_SPACE_REPLACEMENTS.get(param.distribution)
        bounds = param.log_bounds()
        if replacement is None or bounds is None:
            continue
        low, high = bounds
        name = param.distribution.value
        warnings.append(
            f"{key_path(path, *_with_nesting(param.path))} uses {name}, where min/max specify "
            f"base-e exponents, so it proposes values between {low:.6g} and {high:.6g}; use "
            f"{replacement.value} to specify limit values."
        )
    return warnings


def _parse_metric(raw: Any, path: str, unused: list[str]) -> Metric:
    spec = require_mapping(raw, path, "{name: eval_loss, goal: minimize}")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise spec_error(
            key_path(path, "name"), "the metric has no name", "add name: <the logged metric>"
        )
    name = canonical_metric_name(name)
    goal = cast(
        Goal,
        require_choice(
            spec.get("goal", "minimize"), key_path(path, "goal"), ("minimize", "maximize")
        ),
    )
    target = None
    if "target" in spec:
        target = float(require_number(spec["target"], key_path(path, "target")))
    impute = cast(
        Impute,
        require_choice(
            spec.get("impute", "worst"), key_path(path, "impute"), ("worst", "best", "latest")
        ),
    )
    if "impute_while_running" in spec:
        # W&B uses it to feed live runs into its own GP model; our bayes uses constant liar instead.
        unused.append(key_path(path, "impute_while_running"))
    return Metric(name=name, goal=goal, target=target, impute=impute)


def _parse_hyperband(raw: Any, path: str, unused: list[str]) -> EarlyTerminate:
    spec = require_mapping(raw, path, "{type: hyperband, min_iter: 3}")
    require_choice(spec.get("type"), key_path(path, "type"), ("hyperband",))
    eta = float(require_number(spec.get("eta", 3), key_path(path, "eta")))
    if eta <= 1:
        raise spec_error(
            key_path(path, "eta"),
            f"eta must be above 1 but is {eta:g}",
            "use eta: 3 (the default) or 2",
        )
    strict = spec.get("strict", True)
    if not isinstance(strict, bool):
        raise spec_error(
            key_path(path, "strict"),
            f"{strict!r} is not true or false",
            "write strict: true or false",
        )
    # Only a strict: true the user wrote selects W&B's stopper; see EarlyTerminate.
    rule: HyperbandRule = "wandb_strict" if spec.get("strict") is True else "asha"

    if "max_iter" in spec:
        max_iter = require_int(spec["max_iter"], key_path(path, "max_iter"), minimum=1)
        if "s" not in spec:
            raise spec_error(
                key_path(path, "s"),
                "max_iter needs s, the number of rungs",
                "add s: 2, or use min_iter",
            )
        s = require_int(spec["s"], key_path(path, "s"), minimum=1)
        if max_iter / eta < 1:
            raise spec_error(
                key_path(path, "max_iter"),
                f"max_iter {max_iter} / eta {eta:g} is below 1, so there is no rung",
                "raise max_iter or lower eta",
            )
        if "min_iter" in spec:
            # W&B's rule: max_iter and s win, min_iter is ignored.
            unused.append(key_path(path, "min_iter"))
        return EarlyTerminate(max_iter=max_iter, s=s, eta=eta, strict=strict, rule=rule)
    if "min_iter" in spec:
        if "s" in spec:
            unused.append(key_path(path, "s"))
        min_iter = require_int(spec["min_iter"], key_path(path, "min_iter"), minimum=1)
        return EarlyTerminate(min_iter=min_iter, eta=eta, strict=strict, rule=rule)
    raise spec_error(
        path, "hyperband needs a rung schedule", "add min_iter: 3, or max_iter: 27 with s: 2"
    )


def _check_grid(parameters: tuple[Param, ...], path: str) -> None:
    for param in parameters:
        param_path = key_path(path, *_with_nesting(param.path))
        if param.distribution not in FINITE:
            raise spec_error(
                key_path(param_path, "distribution"),
                f"grid search cannot enumerate a {param.distribution.value} parameter",
                "list values: [...] or use int_uniform or q_uniform, or switch to method: random",
            )
        if param.probabilities is not None:
            raise spec_error(
                key_path(param_path, "probabilities"),
                "grid search tries every value, so probabilities have no meaning",
                "remove probabilities or switch to method: random",
            )


def _with_nesting(param_path: tuple[str, ...]) -> list[str]:
    """``("optimizer", "lr")`` -> ``["optimizer", "parameters", "lr"]``, as written in the file."""
    keys: list[str] = []
    for i, name in enumerate(param_path):
        if i:
            keys.append("parameters")
        keys.append(name)
    return keys
