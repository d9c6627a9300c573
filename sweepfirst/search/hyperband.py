"""W&B's hyperband early termination, run as asynchronous successive halving (ASHA).

Rungs are iteration counts, an iteration being one report of the sweep metric (W&B counts
logged values, not step numbers). The schedule is W&B's:

* ``min_iter``: rungs at ``int(min_iter * eta**k)`` for k = 0, 1, 2, ...
  (``min_iter: 3`` -> 3, 9, 27, 81, ...), up to ``max_iteration``.
* ``max_iter`` and ``s``: rungs at ``int(max_iter / eta**k)`` for k = s..1, dropping any below 1
  (``max_iter: 27, s: 2`` -> 3, 9).

The promotion rule (:func:`should_stop`): when a trial reaches a rung, it is ranked among every
score recorded at that rung so far, its own included, and continues only if it is in the top
``floor(n / eta)``. It is asynchronous: no trial waits for a full bracket, which suits a job
queue where trials start and finish at any time. Ties continue.

Two choices this module makes and why:

* With fewer than ``eta`` scores at the rung (``n < eta``) the trial continues: the top
  ``floor(n / eta)`` would be empty, i.e. the first trials to reach a rung would always be
  stopped, before there is any evidence against them. This is ASHA's rule too.
* ``strict: true`` (W&B's schema default) keeps exactly the top ``floor(n / eta)``, the original
  algorithm. ``strict: false`` keeps one more, ``floor(n / eta) + 1``, which is the threshold
  W&B's own stopper computes (``sorted(scores)[int(n / eta)]``) and stops fewer trials.

A NaN score ranks below every real score.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from sweepfirst.search.config import EarlyTerminate, Goal, SweepConfig
from sweepfirst.search.trials import TrialObservation

Action = Literal["continue", "stop"]

#: The last iteration a ``min_iter`` schedule lists a rung for, unless told otherwise.
DEFAULT_MAX_ITERATION = 2**31 - 1


@dataclass(frozen=True)
class Decision:
    """What to do with a trial that just reported ``score`` at some iteration.

    ``rung`` is the iteration if it is a rung, else ``None``. ``cutoff`` is the worst score that
    still continues at that rung, or ``None`` when no cutoff applied (not a rung, too few scores).
    """

    action: Action
    rung: int | None
    cutoff: float | None

    @property
    def stop(self) -> bool:
        """True if the trial should be stopped (and recorded as pruned)."""
        return self.action == "stop"


def rung_schedule(
    spec: EarlyTerminate, *, max_iteration: int = DEFAULT_MAX_ITERATION
) -> tuple[int, ...]:
    """The rung iterations of a hyperband block, ascending, none above ``max_iteration``."""
    rungs: set[int] = set()
    if spec.max_iter is not None:
        assert spec.s is not None, "the parser requires s with max_iter"
        band = float(spec.max_iter)
        for _ in range(spec.s):
            band /= spec.eta
            if band < 1:
                break
            rungs.add(int(band))
    else:
        assert spec.min_iter is not None, "the parser requires min_iter or max_iter"
        band = float(spec.min_iter)
        while int(band) <= max_iteration:
            rungs.add(int(band))
            band *= spec.eta
    return tuple(sorted(r for r in rungs if r <= max_iteration))


def promotion_cutoff(
    scores: Sequence[float], *, goal: Goal, eta: float, strict: bool = True
) -> float | None:
    """The worst score that continues among ``scores`` (all recorded at one rung), or ``None``.

    ``None`` means every score continues: there are fewer than ``eta`` of them.
    """
    n = len(scores)
    if n < eta:
        return None
    keep = min(n, math.floor(n / eta) + (0 if strict else 1))
    ranked = sorted(scores, key=lambda s: _loss(s, goal))
    return ranked[keep - 1]


def should_stop(
    iteration: int,
    score: float,
    peer_scores_at_rung: Sequence[float],
    *,
    goal: Goal,
    eta: float,
    strict: bool = True,
    rungs: Collection[int] | None = None,
) -> bool:
    """True if a trial that reported ``score`` at ``iteration`` should stop.

    ``peer_scores_at_rung`` are the *other* trials' scores recorded at this rung so far; the
    trial's own score is added here. ``iteration`` is taken to be a rung unless ``rungs`` is
    given, in which case an iteration that is not a rung never stops.
    """
    if rungs is not None and iteration not in rungs:
        return False
    cutoff = promotion_cutoff([*peer_scores_at_rung, score], goal=goal, eta=eta, strict=strict)
    return cutoff is not None and _loss(score, goal) > _loss(cutoff, goal)


class Hyperband:
    """Hyperband decisions for one sweep: its rungs, goal, ``eta`` and ``strict``.

    ``max_iteration`` bounds the otherwise endless ``min_iter`` schedule (pass the number of
    metric reports a full trial makes, if known).
    """

    def __init__(self, config: SweepConfig, *, max_iteration: int = DEFAULT_MAX_ITERATION) -> None:
        if config.early_terminate is None or config.metric is None:
            raise ValueError(
                "this sweep has no early_terminate block; check config.early_terminate first"
            )
        self.goal: Goal = config.metric.goal
        self.eta = config.early_terminate.eta
        self.strict = config.early_terminate.strict
        self.rungs = rung_schedule(config.early_terminate, max_iteration=max_iteration)
        self._rung_set = frozenset(self.rungs)

    def decide(self, iteration: int, score: float, peers: Sequence[float]) -> Decision:
        """Continue or stop a trial that reported ``score`` at ``iteration``.

        ``peers`` are the other trials' scores at this iteration (see :meth:`peer_scores`).
        """
        if iteration not in self._rung_set:
            return Decision("continue", None, None)
        cutoff = promotion_cutoff([*peers, score], goal=self.goal, eta=self.eta, strict=self.strict)
        stop = cutoff is not None and _loss(score, self.goal) > _loss(cutoff, self.goal)
        return Decision("stop" if stop else "continue", iteration, cutoff)

    @staticmethod
    def peer_scores(rung: int, others: Sequence[TrialObservation]) -> list[float]:
        """The scores the ``others`` recorded at ``rung`` (leave the deciding trial out)."""
        return [float(obs.intermediate[rung]) for obs in others if rung in obs.intermediate]


def _loss(score: float, goal: Goal) -> float:
    """Lower is better, whatever the goal; NaN is worst."""
    if math.isnan(score):
        return math.inf
    return score if goal == "minimize" else -score
