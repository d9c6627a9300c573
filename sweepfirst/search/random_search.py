"""Random search: independent draws, reproducible trial by trial.

Trial ``k`` (0-based, counting every trial in the history) is drawn from a generator seeded with
``(seed, k)``, so it is the same whether it was asked for alone or in a batch. If a draw repeats
a configuration already tried, the draw is redone with ``(seed, k, attempt)``. After
``MAX_ATTEMPTS`` repeats (a small, nearly exhausted space), a space of finite parameters gives
its first untried combination in grid order, and once it is exhausted nothing more is proposed;
a space with a continuous parameter accepts the repeat, as W&B would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sweepfirst.search.config import SweepConfig
from sweepfirst.search.configurations import config_key, nest
from sweepfirst.search.distributions import Param
from sweepfirst.search.grid import Grid
from sweepfirst.search.trials import TrialObservation, seen_keys, trials_left

#: How many times a repeated configuration is redrawn before it is accepted.
MAX_ATTEMPTS = 64

_SEED_MASK = 2**64 - 1


def draw(params: Sequence[Param], *entropy: int) -> dict[str, Any]:
    """One configuration, drawn from a generator seeded with ``entropy``."""
    rng = np.random.default_rng([e & _SEED_MASK for e in entropy])
    flat: dict[tuple[str, ...], Any] = {}
    for param in params:
        # Strictly inside (0, 1): ppf(0) of a normal is -inf.
        u = (float(rng.integers(0, 2**53)) + 0.5) / 2**53
        flat[param.path] = param.ppf(u)
    return nest(flat)


def draw_unseen(config: SweepConfig, seen: set[str], *entropy: int) -> dict[str, Any]:
    """Like :func:`draw`, but avoiding the keys in ``seen`` as the module docstring says."""
    params = config.parameters
    for attempt in range(MAX_ATTEMPTS):
        candidate = draw(params, *entropy, *([attempt] if attempt else []))
        if config_key(candidate, params) not in seen:
            return candidate
    if config.grid_size is not None:
        untried = next(Grid(config).untried(seen), None)
        if untried is not None:
            return untried
    return candidate


class RandomProposer:
    """Proposes independent random draws from the sweep's distributions."""

    #: Each proposal is independent of the results so far.
    learns_from_results = False

    def __init__(self, config: SweepConfig, *, seed: int) -> None:
        self._config = config
        self._seed = seed

    @property
    def total_trials(self) -> int | None:
        """See :attr:`SweepConfig.total_trials`: ``run_cap``, or fewer if the space is finite."""
        return self._config.total_trials

    def propose(self, history: Sequence[TrialObservation], n: int) -> list[dict[str, Any]]:
        """Trials ``len(history)`` to ``len(history) + n - 1``, cut by ``run_cap``."""
        params = self._config.parameters
        seen = seen_keys(self._config, history)
        proposals: list[dict[str, Any]] = []
        for j in range(trials_left(self._config, history, n)):
            candidate = draw_unseen(self._config, seen, self._seed, len(history) + j)
            key = config_key(candidate, params)
            assert key is not None
            seen.add(key)
            proposals.append(candidate)
        return proposals
