"""Grid search: every combination of the parameters' values, in a fixed order.

The order is that of ``itertools.product`` over the parameters sorted by path (the first one
varies slowest), W&B's order. Each parameter's values are :meth:`SweepConfig.values_of` it: for
a grid, exactly those W&B's grid enumerates (``q_uniform`` without ``max``). Combinations already in the history, whatever their state, are skipped, so a
failed configuration is not retried; the grid is exhausted when every combination was tried.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sweepfirst.search.config import SweepConfig
from sweepfirst.search.configurations import config_key, nest
from sweepfirst.search.trials import TrialObservation, seen_keys, trials_left


class Grid:
    """The combinations of a sweep whose parameters all have finitely many values."""

    def __init__(self, config: SweepConfig) -> None:
        self._params = config.parameters
        self._axes: list[Sequence[Any]] = []
        for param in config.parameters:
            values = config.values_of(param)
            if values is None:
                raise ValueError(f"{param.name} is continuous; a grid needs finite parameters")
            self._axes.append(values)
        size = config.grid_size
        assert size is not None
        self.size = size

    def combination(self, index: int) -> dict[str, Any]:
        """The ``index``-th combination (0-based) as a nested config, without enumerating the rest."""
        flat: dict[tuple[str, ...], Any] = {}
        # Mixed-radix digits, last parameter fastest: the same order as itertools.product.
        for param, axis in zip(reversed(self._params), reversed(self._axes)):
            index, digit = divmod(index, len(axis))
            flat[param.path] = axis[digit]
        return nest(dict(reversed(list(flat.items()))))

    def untried(self, seen: set[str]) -> Iterator[dict[str, Any]]:
        """The combinations whose key is not in ``seen``, in grid order."""
        # Each skipped index is a tried configuration, so reaching the k-th untried combination
        # costs at most len(seen) + k steps.
        for index in range(self.size):
            candidate = self.combination(index)
            if config_key(candidate, self._params) not in seen:
                yield candidate


class GridProposer:
    """Proposes the grid's combinations in order, skipping those already tried."""

    #: Each proposal is independent of the results so far.
    learns_from_results = False

    def __init__(self, config: SweepConfig) -> None:
        if config.method != "grid":
            raise ValueError(f"GridProposer needs method grid, not {config.method}")
        self._config = config
        self._grid = Grid(config)

    @property
    def total_trials(self) -> int | None:
        """The grid size, capped by ``run_cap``."""
        return self._config.total_trials

    def propose(self, history: Sequence[TrialObservation], n: int) -> list[dict[str, Any]]:
        """Up to ``n`` untried combinations, in grid order; ``[]`` once the grid is exhausted."""
        budget = trials_left(self._config, history, n)
        untried = self._grid.untried(seen_keys(self._config, history))
        return [candidate for _, candidate in zip(range(budget), untried)]
