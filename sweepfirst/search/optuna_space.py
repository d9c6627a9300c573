"""How each W&B distribution is shown to optuna, and how values travel both ways.

Optuna sees one distribution per non-constant parameter, named by its path joined with ``/``
(W&B parameter names cannot contain ``/``):

* ``int_uniform`` -> ``IntDistribution(min, max)``; ``uniform`` -> ``FloatDistribution(min, max)``.
* ``q_uniform`` -> ``IntDistribution`` over the multiple ``k`` of ``q``; the value is ``k * q``.
* The log-uniform family (``log_uniform``, ``log_uniform_values``, ``inv_log_uniform``,
  ``inv_log_uniform_values``) -> ``FloatDistribution(low, high, log=True)`` over the value-space
  bounds (all four are log-uniform laws, see :mod:`~sweepfirst.search.distributions`);
  the ``q_`` versions are quantized after sampling.
* ``categorical`` -> ``CategoricalDistribution`` over the value indices (values may be lists or
  dicts, which optuna cannot hold); ``probabilities`` do not shape TPE's prior.
* ``normal``, ``log_normal``, ``beta`` and their ``q_`` versions have no native optuna form
  (unbounded, or a non-uniform prior). They are sampled in CDF space: optuna sees
  ``FloatDistribution(eps, 1 - eps)`` and the value is ``ppf(u)``, so TPE's uniform prior over
  ``u`` is exactly the W&B law. This is also how W&B's own bayes search normalizes parameters.
* ``constant`` is not shown to optuna; it is added to every configuration.

Values coming back from the database are clipped into the bounds (a quantized value may lie one
step outside them); a value that cannot be mapped (not among a categorical's values, not a
number) makes :meth:`OptunaSpace.encode` return ``None`` and that trial is left out of the model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from sweepfirst.search._checks import is_number
from sweepfirst.search.configurations import flatten, nest
from sweepfirst.search.distributions import QUANTIZED, Distribution, Param, multiple, quantize

D = Distribution

#: How close to 0 and 1 a CDF-space parameter may go: ppf(1e-6) of a normal is mu - 4.75 sigma.
CDF_EPS = 1e-6

_CDF_SPACE = frozenset({D.NORMAL, D.Q_NORMAL, D.LOG_NORMAL, D.Q_LOG_NORMAL, D.BETA, D.Q_BETA})


@dataclass(frozen=True)
class _Axis:
    """One parameter as optuna sees it."""

    param: Param
    distribution: BaseDistribution
    decode: Callable[[Any], Any]  # optuna value -> config value
    encode: Callable[[Any], Any]  # config value -> optuna value; raises ValueError if impossible


class OptunaSpace:
    """The optuna view of a sweep's parameters."""

    def __init__(self, params: tuple[Param, ...]) -> None:
        self._params = params
        self._constants = {p.path: p.value for p in params if p.distribution is D.CONSTANT}
        self._axes = {
            "/".join(p.path): _axis(p) for p in params if p.distribution is not D.CONSTANT
        }

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        """Optuna's name -> distribution, for ``study.ask`` and ``create_trial``."""
        return {name: axis.distribution for name, axis in self._axes.items()}

    def decode(self, optuna_params: Mapping[str, Any]) -> dict[str, Any]:
        """A nested configuration from optuna's sampled params."""
        flat = dict(self._constants)
        for name, axis in self._axes.items():
            flat[axis.param.path] = axis.decode(optuna_params[name])
        return nest(dict(sorted(flat.items())))

    def encode(self, config: Mapping[str, Any]) -> dict[str, Any] | None:
        """Optuna params for a recorded configuration, or ``None`` if it does not fit the space."""
        flat = flatten(config, self._params)
        if flat is None:
            return None
        out: dict[str, Any] = {}
        for name, axis in self._axes.items():
            try:
                out[name] = axis.encode(flat[axis.param.path])
            except ValueError:
                return None
        return out


def _axis(p: Param) -> _Axis:
    d = p.distribution
    if d is D.CATEGORICAL:
        keys = [_value_key(v) for v in p.values]

        def encode_index(value: Any) -> int:
            try:
                return keys.index(_value_key(value))
            except ValueError:
                raise ValueError(f"{value!r} is not one of the values") from None

        return _Axis(
            p,
            CategoricalDistribution(list(range(len(p.values)))),
            lambda i: p.values[i],
            encode_index,
        )
    if d is D.INT_UNIFORM:
        low, high = int(_require(p.min)), int(_require(p.max))
        return _Axis(
            p, IntDistribution(low, high), int, lambda v: int(_clip(round(_number(v)), low, high))
        )
    if d is D.Q_UNIFORM:
        step = _require(p.q)
        steps = p.q_steps()
        k_low, k_high = steps.start, steps.stop - 1
        return _Axis(
            p,
            IntDistribution(k_low, k_high),
            lambda k: multiple(int(k), step),
            lambda v: int(_clip(round(_number(v) / step), k_low, k_high)),
        )
    if d is D.UNIFORM:
        f_low, f_high = float(_require(p.min)), float(_require(p.max))
        return _Axis(
            p, FloatDistribution(f_low, f_high), float, lambda v: _clip(_number(v), f_low, f_high)
        )
    if d in _CDF_SPACE:
        lo, hi = CDF_EPS, 1 - CDF_EPS
        return _Axis(
            p, FloatDistribution(lo, hi), p.ppf, lambda v: _clip(p.cdf(_number(v)), lo, hi)
        )
    bounds = p.log_bounds()
    if bounds is None:
        raise ValueError(f"no optuna form for {d.value}")
    log_low, log_high = bounds
    quantum = p.q if d in QUANTIZED else None

    def decode_log(x: Any) -> Any:
        return float(x) if quantum is None else quantize(float(x), quantum)

    return _Axis(
        p,
        FloatDistribution(log_low, log_high, log=True),
        decode_log,
        lambda v: _clip(_number(v), log_low, log_high),
    )


def _value_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def _number(value: Any) -> float:
    if not is_number(value):
        raise ValueError(f"{value!r} is not a number")
    return float(value)


def _clip(x: float, low: float, high: float) -> float:
    return min(max(x, low), high)


def _require(x: float | None) -> float:
    assert x is not None, "the parser fills the fields a distribution needs"
    return x
