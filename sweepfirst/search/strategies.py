"""The search strategies behind one interface: :func:`make_proposer` returns a :class:`Proposer`.

Every ``propose`` gets the whole history of the sweep from the caller's database (running trials
included) and returns new configurations as nested dicts; what a proposer keeps between calls is
a cache of that history (bayes keeps its optuna study), never a record. ``grid`` enumerates, ``random`` draws independently, ``bayes`` runs optuna's TPE.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sweepfirst.search.bayes import BayesProposer
from sweepfirst.search.config import SweepConfig
from sweepfirst.search.grid import GridProposer
from sweepfirst.search.random_search import RandomProposer
from sweepfirst.search.trials import TrialObservation, TrialState

__all__ = ["Proposer", "TrialObservation", "TrialState", "learns_from_results", "make_proposer"]


class Proposer(Protocol):
    """What every search strategy offers."""

    def propose(self, history: Sequence[TrialObservation], n: int) -> list[dict[str, Any]]:
        """Up to ``n`` new configurations given every trial so far (running ones included).

        Never more than ``run_cap`` trials in total, never a configuration already tried when an
        untried one exists; ``[]`` when a finite space (always the grid) is exhausted, the cap is
        reached, or a trial has met ``metric.target``.
        """
        ...

    #: True when proposals improve with finished trials (bayes): the planner then proposes only
    #: as many as can run at once.
    learns_from_results: bool

    @property
    def total_trials(self) -> int | None:
        """Space size (if every parameter is finite) capped by ``run_cap``; else ``run_cap``.

        ``None``: random or bayes over a continuous space without ``run_cap``, which never ends.
        """
        ...


_STRATEGIES: dict[str, type[GridProposer | RandomProposer | BayesProposer]] = {
    "grid": GridProposer,
    "random": RandomProposer,
    "bayes": BayesProposer,
}


def learns_from_results(method: str) -> bool:
    """Whether ``method``'s proposals improve with finished trials (bayes); asked of the strategy
    itself, so a new strategy needs no special case where proposals are planned or forecast."""
    return _STRATEGIES[method].learns_from_results


def make_proposer(config: SweepConfig, *, seed: int) -> Proposer:
    """The proposer for ``config.method``; ``seed`` makes random and bayes reproducible."""
    if config.method == "grid":
        return GridProposer(config)
    if config.method == "random":
        return RandomProposer(config, seed=seed)
    return BayesProposer(config, seed=seed)
