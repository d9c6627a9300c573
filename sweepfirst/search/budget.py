"""What a sweep has spent against its budget (``budget: {trials | train_steps | hours}``).

Pure arithmetic over the trials' jobs, so the planner (to stop proposing) and the analysis (to say
what each method spent) count the same way: trials planned, optimizer steps reached (a pruned
trial's steps count: they were spent), wall time of the jobs' attempts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from sweepfirst.formatting import spent_duration


class BudgetLimits(Protocol):
    """The limits of a budget (``spec.BudgetSpec`` has them)."""

    @property
    def trials(self) -> int | None: ...

    @property
    def train_steps(self) -> int | None: ...

    @property
    def hours(self) -> float | None: ...


@dataclass(frozen=True)
class Spend:
    trials: int
    train_steps: int
    seconds: float

    @classmethod
    def of(cls, trials: int, steps: Iterable[int | None], seconds: Iterable[float | None]) -> Spend:
        return cls(trials, sum(s or 0 for s in steps), sum(t or 0.0 for t in seconds))

    def exhausted(self, budget: BudgetLimits | None) -> bool:
        """Whether any limit of ``budget`` is reached (never without a budget)."""
        if budget is None:
            return False
        return (
            (budget.trials is not None and self.trials >= budget.trials)
            or (budget.train_steps is not None and self.train_steps >= budget.train_steps)
            or (budget.hours is not None and self.seconds >= budget.hours * 3600)
        )

    def describe(self) -> str:
        return f"{self.trials} trials, {self.train_steps:,} training steps, {spent_duration(self.seconds)}"
