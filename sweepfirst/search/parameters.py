"""Parse the ``parameters`` block of a W&B sweep file into :class:`Param` objects.

W&B's inference rules apply when ``distribution`` is missing: ``values`` means categorical,
``value`` means constant, ``min``/``max`` both ints means ``int_uniform`` and otherwise
``uniform``. A block with ``parameters`` inside nests a dict. Defaults are W&B's: ``q=1.0``,
``mu=0``, ``sigma=1``, ``a=b=1``. Like W&B we require ``min < max``, and probabilities that sum
to 1 as ``numpy.isclose`` judges it (``sweeps/config/schema.py``, ``validate_categorical_prob``).

Numbers YAML read as text (``1e-5``) are numbers here; see :mod:`sweepfirst.search.numbers`.

W&B's JSON schema allows ``sigma: 0`` and beta's ``a: 0`` / ``b: 0``, but its sampler then calls
``scipy.stats`` ``ppf`` with a zero scale or shape, which returns NaN for every draw; those are
refused with that reason rather than sweeping NaN learning rates.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from sweepfirst.errors import SpecError
from sweepfirst.search._checks import (
    UnknownKey,
    is_int,
    key_path,
    reject_unknown_keys,
    require_mapping,
    require_number,
    spec_error,
    unknown_keys,
)
from sweepfirst.search.distributions import QUANTIZED, Distribution, Param, quantize
from sweepfirst.search.numbers import numeric_value, numeric_values

D = Distribution

#: The keys each distribution takes besides ``distribution`` (W&B's JSON schema).
_KEYS: dict[Distribution, tuple[str, ...]] = {
    D.CONSTANT: ("value",),
    D.CATEGORICAL: ("values", "probabilities"),
    D.INT_UNIFORM: ("min", "max"),
    D.UNIFORM: ("min", "max"),
    D.Q_UNIFORM: ("min", "max", "q"),
    D.LOG_UNIFORM: ("min", "max"),
    D.LOG_UNIFORM_VALUES: ("min", "max"),
    D.Q_LOG_UNIFORM: ("min", "max", "q"),
    D.Q_LOG_UNIFORM_VALUES: ("min", "max", "q"),
    D.INV_LOG_UNIFORM: ("min", "max"),
    D.INV_LOG_UNIFORM_VALUES: ("min", "max"),
    D.NORMAL: ("mu", "sigma"),
    D.Q_NORMAL: ("mu", "sigma", "q"),
    D.LOG_NORMAL: ("mu", "sigma"),
    D.Q_LOG_NORMAL: ("mu", "sigma", "q"),
    D.BETA: ("a", "b"),
    D.Q_BETA: ("a", "b", "q"),
}

#: ``min`` is a value (not a log) for these, so it must be positive.
_POSITIVE_MIN = frozenset({D.LOG_UNIFORM_VALUES, D.Q_LOG_UNIFORM_VALUES, D.INV_LOG_UNIFORM_VALUES})

#: W&B's older name for categorical with probabilities; accepted as an alias.
_CATEGORICAL_ALIAS = "categorical_w_probabilities"

#: W&B's rule for parameter names (its JSON schema ``propertyNames`` pattern).
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")

_EXAMPLE = "{values: [1, 2]}, {value: 1}, {min: 0.0, max: 1.0} or {parameters: {...}}"


def parse_parameters(raw: Any, path: str) -> tuple[Param, ...]:
    """Parse a ``parameters`` mapping; the result is sorted by path (W&B's order)."""
    params = _parse_block(raw, path, ())
    return tuple(sorted(params, key=lambda p: p.path))


def unknown_parameter_keys(raw: Any, path: str) -> list[UnknownKey]:
    """Every key of every parameter spec under ``raw`` that its distribution does not take.

    A spec whose distribution cannot be told is skipped: parsing it reports that instead.
    """
    if not isinstance(raw, Mapping):
        return []
    found: list[UnknownKey] = []
    for name, node in raw.items():
        if not isinstance(name, str) or not isinstance(node, Mapping):
            continue
        node_path = key_path(path, name)
        if "parameters" in node:
            found += unknown_keys(node, ("parameters",), node_path, "a nested parameter group")
            found += unknown_parameter_keys(node["parameters"], key_path(node_path, "parameters"))
            continue
        try:
            distribution = _distribution_of(node, node_path)
        except SpecError:
            continue
        found += unknown_keys(
            node, ("distribution", *_KEYS[distribution]), node_path, f"a {distribution.value} parameter"
        )
    return found


def _parse_block(raw: Any, path: str, prefix: tuple[str, ...]) -> list[Param]:
    block = require_mapping(raw, path, "{learning_rate: {min: 1.0e-5, max: 1.0e-3}}")
    if not block:
        raise spec_error(path, "there are no parameters", "add at least one parameter")
    params: list[Param] = []
    for name, node in block.items():
        node_path = key_path(path, name)
        if not _NAME.match(name):
            raise spec_error(
                node_path,
                f"'{name}' is not a valid parameter name",
                "start it with a letter or _ and use only letters, digits, _, . and -",
            )
        spec = require_mapping(node, node_path, _EXAMPLE)
        if "parameters" in spec:
            reject_unknown_keys(spec, ("parameters",), node_path, "a nested parameter group")
            params.extend(
                _parse_block(spec["parameters"], key_path(node_path, "parameters"), (*prefix, name))
            )
        else:
            params.append(_parse_param(spec, node_path, (*prefix, name)))
    return params


def _parse_param(spec: Mapping[str, Any], path: str, param_path: tuple[str, ...]) -> Param:
    distribution = _distribution_of(spec, path)
    reject_unknown_keys(
        spec, ("distribution", *_KEYS[distribution]), path, f"a {distribution.value} parameter"
    )
    if distribution is D.CONSTANT:
        if "value" not in spec:
            raise spec_error(
                key_path(path, "value"), "a constant needs a value", "add value: <the value>"
            )
        return Param(param_path, distribution, value=numeric_value(spec["value"]))
    if distribution is D.CATEGORICAL:
        values, probabilities = _categorical(spec, path)
        return Param(param_path, distribution, values=values, probabilities=probabilities)
    fields: dict[str, float] = {}
    if "min" in _KEYS[distribution]:
        fields.update(_bounds(spec, path, distribution))
    if "q" in _KEYS[distribution]:
        fields["q"] = _positive(spec, path, "q", default=1.0)
    if "mu" in _KEYS[distribution]:
        fields["mu"] = require_number(spec.get("mu", 0.0), key_path(path, "mu"))
        fields["sigma"] = _sigma(spec, path, distribution, fields)
    if "a" in _KEYS[distribution]:
        fields["a"] = _beta_shape(spec, path, "a")
        fields["b"] = _beta_shape(spec, path, "b")
    return Param(
        param_path,
        distribution,
        min=fields.get("min"),
        max=fields.get("max"),
        q=fields.get("q"),
        mu=fields.get("mu"),
        sigma=fields.get("sigma"),
        a=fields.get("a"),
        b=fields.get("b"),
    )


def _distribution_of(spec: Mapping[str, Any], path: str) -> Distribution:
    if "distribution" in spec:
        name = spec["distribution"]
        if name == _CATEGORICAL_ALIAS:
            return D.CATEGORICAL
        try:
            return Distribution(name)
        except ValueError:
            raise spec_error(
                key_path(path, "distribution"),
                f"{name!r} is not a W&B distribution",
                f"use one of {', '.join(d.value for d in Distribution)}",
            ) from None
    if "values" in spec:
        return D.CATEGORICAL
    if "value" in spec:
        return D.CONSTANT
    if "min" in spec and "max" in spec:
        return D.INT_UNIFORM if is_int(spec["min"]) and is_int(spec["max"]) else D.UNIFORM
    raise spec_error(
        path,
        "cannot tell which distribution this parameter has",
        "give values, value, both min and max, or a distribution",
    )


def _categorical(
    spec: Mapping[str, Any], path: str
) -> tuple[tuple[Any, ...], tuple[float, ...] | None]:
    values_path = key_path(path, "values")
    if "values" not in spec:
        raise spec_error(
            values_path, "a categorical parameter needs values", "add values: [a, b, ...]"
        )
    raw_values = spec["values"]
    if not isinstance(raw_values, (list, tuple)):
        raise spec_error(values_path, "values must be a list", "write values: [a, b, ...]")
    if not raw_values:
        raise spec_error(values_path, "the list of values is empty", "list at least one value")
    values = numeric_values(raw_values)
    if "probabilities" not in spec:
        return values, None
    probs_path = key_path(path, "probabilities")
    raw_probs = spec["probabilities"]
    if not isinstance(raw_probs, (list, tuple)) or len(raw_probs) != len(raw_values):
        raise spec_error(
            probs_path,
            f"there must be one probability per value ({len(raw_values)})",
            "give a list as long as values",
        )
    probabilities: list[float] = []
    for i, p in enumerate(raw_probs):
        number = float(require_number(p, f"{probs_path}[{i}]"))
        if number < 0:
            raise spec_error(
                f"{probs_path}[{i}]", f"{p} is negative", "use probabilities between 0 and 1"
            )
        probabilities.append(number)
    # W&B's test, to the letter: np.isclose(sum(p), 1.0), i.e. |sum - 1| <= 1e-8 + 1e-5.
    total = sum(probabilities)
    if not np.isclose(total, 1.0):
        raise spec_error(
            probs_path,
            f"the probabilities sum to {total:g}, not 1 (W&B allows a difference of 1e-5)",
            "make them sum to 1",
        )
    return values, tuple(probabilities)


def _bounds(spec: Mapping[str, Any], path: str, distribution: Distribution) -> dict[str, float]:
    for key in ("min", "max"):
        if key not in spec:
            raise spec_error(
                key_path(path, key),
                f"a {distribution.value} parameter needs both min and max",
                f"add {key}: <number>",
            )
    low = require_number(spec["min"], key_path(path, "min"))
    high = require_number(spec["max"], key_path(path, "max"))
    if distribution is D.INT_UNIFORM:
        for key, number in (("min", low), ("max", high)):
            if not is_int(number):
                as_text = f" (YAML read {spec[key]} as text)" if isinstance(spec[key], str) else ""
                raise spec_error(
                    key_path(path, key),
                    f"int_uniform needs whole numbers but {key} is {number!r}{as_text}",
                    "write it without a decimal point or exponent, or use distribution: uniform "
                    "for floats",
                )
    if distribution in _POSITIVE_MIN and low <= 0:
        raise spec_error(
            key_path(path, "min"),
            f"{distribution.value} takes values, so min must be above 0 but is {low}",
            "use a positive min, or log_uniform if min and max are natural logs",
        )
    if low >= high:
        raise spec_error(
            key_path(path, "max"),
            f"max ({high}) must be greater than min ({low})",
            "swap them or widen the range; for a single value use value: instead",
        )
    return {"min": low, "max": high}


def _positive(spec: Mapping[str, Any], path: str, key: str, *, default: float) -> float:
    number = require_number(spec.get(key, default), key_path(path, key))
    if number <= 0:
        raise spec_error(
            key_path(path, key), f"{key} must be above 0 but is {number}", f"use a positive {key}"
        )
    return number


def _sigma(
    spec: Mapping[str, Any], path: str, distribution: Distribution, fields: Mapping[str, float]
) -> float:
    """``sigma``, refusing 0: W&B's schema allows it but W&B's draws are then all NaN."""
    sigma = require_number(spec.get("sigma", 1.0), key_path(path, "sigma"))
    if sigma < 0:
        raise spec_error(
            key_path(path, "sigma"), f"sigma must be above 0 but is {sigma}", "use a positive sigma"
        )
    if sigma == 0:
        log = distribution in (D.LOG_NORMAL, D.Q_LOG_NORMAL)
        # The law sigma -> 0 tends to, offered as the constant the user most likely meant.
        fixed: float = math.exp(fields["mu"]) if log else fields["mu"]
        if distribution in QUANTIZED:
            fixed = quantize(fixed, fields["q"])
        sampler = "scipy.stats.lognorm.ppf with s=0" if log else "scipy.stats.norm.ppf with scale=0"
        raise spec_error(
            key_path(path, "sigma"),
            f"sigma 0 passes W&B's schema, but W&B draws with {sampler}, which gives NaN for "
            "every trial",
            f"use a positive sigma, or value: {fixed:g} for a fixed value",
        )
    return sigma


def _beta_shape(spec: Mapping[str, Any], path: str, key: str) -> float:
    """Beta's ``a`` or ``b``, refusing 0: W&B's schema allows it but W&B's draws are then NaN."""
    shape = require_number(spec.get(key, 1.0), key_path(path, key))
    if shape < 0:
        raise spec_error(
            key_path(path, key), f"{key} must be above 0 but is {shape}", f"use a positive {key}"
        )
    if shape == 0:
        raise spec_error(
            key_path(path, key),
            f"{key} 0 passes W&B's schema, but W&B draws with scipy.stats.beta.ppf, which gives "
            "NaN for every trial when a or b is 0",
            f"use a positive {key}",
        )
    return shape
