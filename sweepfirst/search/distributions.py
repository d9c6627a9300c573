"""One hyperparameter of a W&B sweep: its distribution and how to draw from it.

The maths follows W&B's own sweep engine (``wandb/sweeps``, ``params.py``) so that a sweep file
means the same thing here as it does on W&B. Every draw goes through :meth:`Param.ppf`, the
inverse CDF: a value is ``ppf(u)`` for ``u`` uniform on (0, 1). That keeps one uniform number per
parameter per draw, which is what makes random search reproducible trial by trial.

Two W&B facts that surprise people, both checked against W&B's code and docs:

* ``inv_log_uniform`` draws ``exp(-X)`` with ``X`` uniform on ``[min, max]``, so its values lie in
  ``[exp(-max), exp(-min)]`` and are log-uniform there.
* ``inv_log_uniform_values`` returns ``X`` where ``log(1/X)`` is uniform on
  ``[log(1/max), log(1/min)]``: its values lie in ``[min, max]`` and it is the same law as
  ``log_uniform_values``.

Quantized (``q_*``) values are ``round(X / q) * q`` and, as in W&B, may land one step outside
``[min, max]`` when the bounds are not multiples of ``q``; they are ints when ``q`` is an int.

A *grid* over ``q_uniform`` is another set of values, W&B's ``np.arange(min, max, q)``
(``sweeps/grid_search.py``): ``min, min + q, ...`` strictly below ``max`` (``min 8, max 64, q 8``
is 8, 16, ..., 56: seven values), and not multiples of ``q`` unless ``min`` is one. See
:meth:`Param.grid_values`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, overload

from scipy import special


class Distribution(str, Enum):
    """The W&B distribution names (``distribution:`` in a sweep file)."""

    CONSTANT = "constant"
    CATEGORICAL = "categorical"
    INT_UNIFORM = "int_uniform"
    UNIFORM = "uniform"
    Q_UNIFORM = "q_uniform"
    LOG_UNIFORM = "log_uniform"
    LOG_UNIFORM_VALUES = "log_uniform_values"
    Q_LOG_UNIFORM = "q_log_uniform"
    Q_LOG_UNIFORM_VALUES = "q_log_uniform_values"
    INV_LOG_UNIFORM = "inv_log_uniform"
    INV_LOG_UNIFORM_VALUES = "inv_log_uniform_values"
    NORMAL = "normal"
    Q_NORMAL = "q_normal"
    LOG_NORMAL = "log_normal"
    Q_LOG_NORMAL = "q_log_normal"
    BETA = "beta"
    Q_BETA = "q_beta"


#: Distributions with finitely many values: the only ones a grid can enumerate (W&B's rule).
FINITE = frozenset(
    {
        Distribution.CONSTANT,
        Distribution.CATEGORICAL,
        Distribution.INT_UNIFORM,
        Distribution.Q_UNIFORM,
    }
)

#: Distributions that draw ``round(X / q) * q``.
QUANTIZED = frozenset(
    {
        Distribution.Q_UNIFORM,
        Distribution.Q_LOG_UNIFORM,
        Distribution.Q_LOG_UNIFORM_VALUES,
        Distribution.Q_NORMAL,
        Distribution.Q_LOG_NORMAL,
        Distribution.Q_BETA,
    }
)


@dataclass(frozen=True)
class Param:
    """A parsed sweep parameter.

    ``path`` is where it sits in the nested config (``("optimizer", "lr")``). Only the fields its
    distribution uses are set; W&B's defaults (``q=1.0``, ``mu=0``, ``sigma=1``, ``a=b=1``) are
    already filled in by the parser.
    """

    path: tuple[str, ...]
    distribution: Distribution
    value: Any = None
    values: tuple[Any, ...] = ()
    probabilities: tuple[float, ...] | None = None
    min: float | None = None
    max: float | None = None
    q: float | None = None
    mu: float | None = None
    sigma: float | None = None
    a: float | None = None
    b: float | None = None

    @property
    def name(self) -> str:
        """The dotted path, for messages."""
        return ".".join(self.path)

    def ppf(self, u: float) -> Any:
        """The value at quantile ``u`` in (0, 1): how every draw is made."""
        d = self.distribution
        if d is Distribution.CONSTANT:
            return self.value
        if d is Distribution.CATEGORICAL:
            return self.values[self._category_index(u)]
        if d is Distribution.INT_UNIFORM:
            low, high = int(self._min), int(self._max)
            return low + min(int(u * (high - low + 1)), high - low)
        x = self._continuous_ppf(u)
        return quantize(x, self._q) if d in QUANTIZED else x

    def cdf(self, x: float) -> float:
        """P(X <= x) of the continuous law behind a normal, log-normal or beta parameter."""
        d = self.distribution
        if d in (Distribution.NORMAL, Distribution.Q_NORMAL):
            return float(special.ndtr((x - self._mu) / self._sigma))
        if d in (Distribution.LOG_NORMAL, Distribution.Q_LOG_NORMAL):
            return 0.0 if x <= 0 else float(special.ndtr((math.log(x) - self._mu) / self._sigma))
        if d in (Distribution.BETA, Distribution.Q_BETA):
            return float(special.betainc(self._a, self._b, min(max(x, 0.0), 1.0)))
        raise ValueError(f"cdf is only defined for normal, log-normal and beta laws, not {d.value}")

    def log_bounds(self) -> tuple[float, float] | None:
        """For the log-uniform family, the value-space ``(low, high)`` it is log-uniform on."""
        d = self.distribution
        if d in (Distribution.LOG_UNIFORM, Distribution.Q_LOG_UNIFORM):
            return math.exp(self._min), math.exp(self._max)
        if d is Distribution.INV_LOG_UNIFORM:
            return math.exp(-self._max), math.exp(-self._min)
        if d in (
            Distribution.LOG_UNIFORM_VALUES,
            Distribution.Q_LOG_UNIFORM_VALUES,
            Distribution.INV_LOG_UNIFORM_VALUES,
        ):
            return self._min, self._max
        return None

    def finite_values(self) -> Sequence[Any] | None:
        """Every value a finite parameter can take, in order; ``None`` for continuous ones."""
        d = self.distribution
        if d is Distribution.CONSTANT:
            return (self.value,)
        if d is Distribution.CATEGORICAL:
            return self.values
        if d is Distribution.INT_UNIFORM:
            return range(int(self._min), int(self._max) + 1)
        if d is Distribution.Q_UNIFORM:
            return QuantizedRange(self.q_steps(), self._q)
        return None

    def grid_values(self) -> Sequence[Any] | None:
        """The values W&B's grid search enumerates for this parameter, in order; else ``None``.

        W&B's ``grid_search_next_runs`` turns ``int_uniform`` into ``range(min, max + 1)`` (both
        ends) and ``q_uniform`` into ``np.arange(min, max, q)`` (``max`` left out); it refuses
        every other distribution, as :func:`~sweepfirst.search.config.parse_sweep_config` does.
        """
        if self.distribution is Distribution.Q_UNIFORM:
            return GridSteps(self._min, self._max, self._q)
        if self.distribution in FINITE:
            return self.finite_values()
        return None

    def in_grid(self, value: Any) -> bool:
        """Whether ``value`` is one of :meth:`grid_values` (False for a continuous parameter)."""
        if self.distribution is Distribution.Q_UNIFORM:
            return GridSteps(self._min, self._max, self._q).holds(value)
        return self.contains(value)

    def contains(self, value: Any) -> bool:
        """Whether a draw can give ``value``: one of :meth:`finite_values` (False if continuous)."""
        d = self.distribution
        if d in (Distribution.CONSTANT, Distribution.CATEGORICAL):
            options = (self.value,) if d is Distribution.CONSTANT else self.values
            return _value_key(value) in {_value_key(v) for v in options}
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        if d is Distribution.INT_UNIFORM:
            return isinstance(value, int) and self._min <= value <= self._max
        if d is Distribution.Q_UNIFORM:
            k = round(value / self._q)
            return k in self.q_steps() and multiple(k, self._q) == value
        return False

    def q_steps(self) -> range:
        """For ``q_uniform``: the multiples ``k`` of ``q`` that ``round(U / q) * q`` can give."""
        return range(round(self._min / self._q), round(self._max / self._q) + 1)

    # -- internals -------------------------------------------------------------------------

    def _category_index(self, u: float) -> int:
        n = len(self.values)
        if self.probabilities is None:
            return min(int(u * n), n - 1)
        # First index whose cumulative probability exceeds u; zero-probability values are skipped.
        cumulative = 0.0
        for i, p in enumerate(self.probabilities):
            cumulative += p
            if u < cumulative:
                return i
        # The sum may be short of 1 by up to 1e-5 (W&B's np.isclose allows it). W&B's ppf then
        # gives values[0] (argmin of an all-True array), even if its probability is 0; the last
        # value that can occur is the smaller surprise for that sliver.
        return max(i for i, p in enumerate(self.probabilities) if p > 0)

    def _continuous_ppf(self, u: float) -> float:
        d = self.distribution
        if d in (Distribution.UNIFORM, Distribution.Q_UNIFORM):
            return self._min + u * (self._max - self._min)
        if d in (Distribution.NORMAL, Distribution.Q_NORMAL):
            return self._mu + self._sigma * float(special.ndtri(u))
        if d in (Distribution.LOG_NORMAL, Distribution.Q_LOG_NORMAL):
            return math.exp(self._mu + self._sigma * float(special.ndtri(u)))
        if d in (Distribution.BETA, Distribution.Q_BETA):
            return float(special.betaincinv(self._a, self._b, u))
        bounds = self.log_bounds()
        if bounds is None:
            raise ValueError(f"no continuous law for {d.value}")
        low, high = bounds
        # Interpolate in log space and clamp: exp(log(x)) can drift one ulp outside [low, high].
        x = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
        return min(max(x, low), high)

    @property
    def _min(self) -> float:
        assert self.min is not None, "parser fills min"
        return self.min

    @property
    def _max(self) -> float:
        assert self.max is not None, "parser fills max"
        return self.max

    @property
    def _q(self) -> float:
        assert self.q is not None, "parser fills q"
        return self.q

    @property
    def _mu(self) -> float:
        assert self.mu is not None, "parser fills mu"
        return self.mu

    @property
    def _sigma(self) -> float:
        assert self.sigma is not None, "parser fills sigma"
        return self.sigma

    @property
    def _a(self) -> float:
        assert self.a is not None, "parser fills a"
        return self.a

    @property
    def _b(self) -> float:
        assert self.b is not None, "parser fills b"
        return self.b


def _value_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def quantize(x: float, q: float) -> int | float:
    """``round(x / q) * q`` as W&B does; an int when ``q`` is an int.

    For a float ``q`` the product is formed in decimal so that ``q=0.1`` gives ``0.3``, not
    ``0.30000000000000004``: these values end up in run names and logs.
    """
    return multiple(round(x / q), q)


def multiple(k: int, q: float) -> int | float:
    """``k * q``, exact in decimal for a float ``q`` (see :func:`quantize`)."""
    if isinstance(q, int):
        return k * q
    return float(Decimal(k) * Decimal(repr(q)))


class QuantizedRange(Sequence[Any]):
    """The values ``k * q`` for ``k`` in a range, without building the list."""

    def __init__(self, steps: range, q: float) -> None:
        self._steps = steps
        self._q = q

    def __len__(self) -> int:
        return len(self._steps)

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [multiple(k, self._q) for k in self._steps[index]]
        return multiple(self._steps[index], self._q)


class GridSteps(Sequence[Any]):
    """W&B's grid over ``q_uniform``: the values of ``np.arange(low, high, q)``, lazily.

    The count is numpy's, ``ceil((high - low) / q)`` in floating point, so it is W&B's exactly,
    float artefacts included (``np.arange(0.1, 0.4, 0.1)`` has four values, the last ~0.4). The
    values are ``low + i * q``: ints when ``low``, ``high`` and ``q`` all are (numpy's dtype rule),
    otherwise floats formed in decimal like :func:`multiple` (0.3, not numpy's
    0.30000000000000004).
    """

    def __init__(self, low: float, high: float, q: float) -> None:
        self._low = low
        self._q = q
        self._ints = all(isinstance(x, int) for x in (low, high, q))
        self._len = max(0, math.ceil((high - low) / q))

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self._value(i) for i in range(self._len)[index]]
        return self._value(range(self._len)[index])

    def holds(self, value: Any) -> bool:
        """Whether ``value`` is one of the steps."""
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        i = round((value - self._low) / self._q)
        return 0 <= i < self._len and self._value(i) == value

    def _value(self, i: int) -> int | float:
        if self._ints:
            return int(self._low) + i * int(self._q)
        return float(Decimal(repr(self._low)) + i * Decimal(repr(self._q)))
