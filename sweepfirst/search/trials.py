"""What a proposer is told about the trials so far, and the rules every proposer shares.

The caller's database is the single source of truth: each call to ``propose`` gets every trial
of the sweep (running ones included) as :class:`TrialObservation` values and keeps no state of
its own between calls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sweepfirst.search.config import SweepConfig
from sweepfirst.search.configurations import config_key, flatten

TrialState = Literal["complete", "pruned", "failed", "running"]
TRIAL_STATES: tuple[TrialState, ...] = ("complete", "pruned", "failed", "running")


@dataclass(frozen=True)
class TrialObservation:
    """One trial of the sweep as recorded by the caller.

    ``params`` is the nested configuration the trial ran with. ``score`` is the metric at the
    end (for a pruned trial, at the last rung it reached); ``None`` when there is none yet.
    ``intermediate`` maps an iteration (how many times the metric was reported, from 1) to the
    score then.
    """

    params: Mapping[str, Any]
    score: float | None
    state: TrialState
    intermediate: Mapping[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state not in TRIAL_STATES:
            # A caller bug, not a user mistake: fail loudly with the list of states.
            raise ValueError(f"unknown trial state {self.state!r}; expected one of {TRIAL_STATES}")


def trials_left(config: SweepConfig, history: Sequence[TrialObservation], n: int) -> int:
    """How many new trials may be proposed now.

    ``n``, cut by ``run_cap``, by the untried configurations left when every parameter is finite
    (whatever the method: repeating a configuration only repeats a result), and to 0 once a trial
    has reached the target.
    """
    if n <= 0 or target_reached(config, history):
        return 0
    budget = n if config.run_cap is None else config.run_cap - len(history)
    size = config.grid_size
    if size is not None:
        budget = min(budget, size - len(_tried_in_space(config, history)))
    return max(0, min(n, budget))


def target_reached(config: SweepConfig, history: Sequence[TrialObservation]) -> bool:
    """True once any trial's score meets ``metric.target`` (W&B then starts no new runs)."""
    metric = config.metric
    if metric is None or metric.target is None:
        return False
    return any(
        obs.score is not None and not math.isnan(obs.score) and metric.reached(obs.score)
        for obs in history
    )


def _tried_in_space(config: SweepConfig, history: Sequence[TrialObservation]) -> set[str]:
    """Keys of the tried configurations that belong to a finite search space."""
    tried: set[str] = set()
    for obs in history:
        flat = flatten(obs.params, config.parameters)
        if flat is not None and all(
            config.in_space(p, flat[p.path]) for p in config.parameters
        ):
            key = config_key(obs.params, config.parameters)
            assert key is not None
            tried.add(key)
    return tried


def seen_keys(config: SweepConfig, history: Sequence[TrialObservation]) -> set[str]:
    """The canonical keys of every configuration already tried, whatever its state."""
    keys = (config_key(obs.params, config.parameters) for obs in history)
    return {key for key in keys if key is not None}
