"""W&B's hyperband early termination, run as asynchronous successive halving (ASHA).

Rungs are iteration counts, an iteration being one report of the sweep metric (W&B counts
logged values, not step numbers). The schedule is W&B's:

* ``min_iter``: rungs at ``int(min_iter * eta**k)`` for k = 0, 1, 2, ...
  (``min_iter: 3`` -> 3, 9, 27, 81, ...), up to ``max_iteration``.
* ``max_iter`` and ``s``: rungs at ``int(max_iter / eta**k)`` for k = s..1, dropping any below 1
  (``max_iter: 27, s: 2`` -> 3, 9).

The rule is ASHA's (Li et al., "A System for Massively Parallel Hyperparameter Tuning", 2020):
a trial that reaches a rung is ranked among every score recorded at that rung so far, its own
included. In the top ``floor(n / eta)`` it continues at once (:meth:`Hyperband.decide`);
otherwise it *pauses* -- the caller stops it, keeps its checkpoint and records it as pruned. A
paused trial is *promoted* (continued from its checkpoint) as soon as later arrivals put it in
the top ``floor(n / eta)`` of its rung (:meth:`Hyperband.promotable`). No trial waits for a full
bracket, which suits a job queue where trials start and finish at any time. Arrival order still
matters (a trial that continued is never called back), but less than under a stop-only rule:
the first trial at a rung is paused, not waved through, and continues only once enough others
have arrived for it to rank in the top ``1/eta``.

When the sweep is *settled* -- no trial running or waiting, none left to propose -- a rung whose
``floor(n / eta)`` is 0 (fewer than ``eta`` scores) still promotes its best paused trial. That is
how a finite sweep ends with at least one trial trained to the end: 12 trials with ``eta: 3``
put 4 through the first rung and 1 through the second, and that one finishes.

Three more choices this module makes and why:

* Exact ties on the sweep metric are broken by a second, continuous value reported at the same
  evaluation -- sweepfirst passes ``eval_loss``, lower is better. W&B lets every trial tied at the
  cutoff continue. With a discrete metric such as accuracy that stops almost nobody: early in
  fine-tuning most trials sit at exactly the majority-class accuracy, tied, while their losses
  already tell them apart. Where either of two tied scores has no tie-break value, the tie
  continues, as in W&B. So a trial is in the top ``k`` when fewer than ``k`` others are
  *strictly* better: a better score, or the same score and a lower tie-break value.
* ``strict`` left out keeps exactly the top ``floor(n / eta)``, the original algorithm;
  ``strict: false`` keeps ``floor(n / eta) + 1``, the count W&B's own stopper keeps
  (``sorted(scores)[int(n / eta)]``): more trials continue, and the first trial at a rung always
  does. Both with the pauses, promotions and tie-breaks above. (W&B's own non-strict stopper
  compares each run's best value so far, not its value at the rung; the pruner is not given a
  trial's history, so that part is not followed.)
* A NaN score ranks below every real score.

``strict: true`` written in the file is a request for W&B's own strict stopper, and gets it, to
the letter of ``hyperband_stop_runs`` in W&B's ``sweeps/hyperband_stopping.py``
(:func:`wandb_stops`). At a band, W&B takes every run's value there (its own included, running
and finished runs alike, non-finite values dropped, negated when maximizing), sorts them and sets
the threshold at index ``int((1 / eta) * n)``; a run stops when its value *at the band* is
strictly worse (the non-strict W&B rule would compare its best value so far instead). So the top
``floor(n / eta) + 1`` continue, ties at the threshold continue, the first run at a band always
continues, nothing breaks ties, and a stopped run is never resumed (:meth:`Hyperband.promotable`
promotes nobody). W&B also re-checks a running trial against its latest band's threshold as
later runs arrive; :meth:`Hyperband.decide` at that band with the current peers gives that
answer, but sweepfirst's pruner only asks at the rung itself.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, TypeVar

from sweepfirst.search.config import EarlyTerminate, Goal, HyperbandRule, SweepConfig
from sweepfirst.search.trials import TrialObservation

Action = Literal["continue", "stop"]

#: Whatever the caller names its trials by (sweepfirst passes job ids).
TrialKey = TypeVar("TrialKey", bound=Hashable)

#: The last iteration a ``min_iter`` schedule lists a rung for, unless told otherwise.
DEFAULT_MAX_ITERATION = 2**31 - 1


@dataclass(frozen=True)
class RungScore:
    """What a trial reported at one evaluation: the sweep metric, and the value that breaks ties.

    ``tie_break`` is lower-is-better whatever the goal (sweepfirst passes ``eval_loss``); None
    when the evaluation reported none, in which case ties with this score continue.
    """

    score: float
    tie_break: float | None = None


#: A plain float is a score without a tie-break value.
Reported: TypeAlias = "float | RungScore"


@dataclass(frozen=True)
class Decision:
    """What to do with a trial that just reported ``score`` at some iteration.

    ``rung`` is the iteration if it is a rung, else ``None``. ``cutoff`` is the worst score that
    continues at that rung now, or ``None`` when the iteration is not a rung or none continues yet.
    """

    action: Action
    rung: int | None
    cutoff: float | None

    @property
    def stop(self) -> bool:
        """True if the trial should pause: stop, keep its checkpoint, wait for a promotion."""
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
    scores: Sequence[Reported], *, goal: Goal, eta: float, strict: bool = True, settled: bool = False
) -> float | None:
    """The worst score that continues among ``scores`` (all recorded at one rung); None if none.

    A trial whose score equals the cutoff may still pause, on its tie-break value (see
    :func:`stops_at_rung`).
    """
    keep = _places(len(scores), eta=eta, strict=strict, settled=settled)
    if keep == 0:
        return None
    ranked = sorted((_as_rung_score(s).score for s in scores), key=lambda s: _loss(s, goal))
    return ranked[keep - 1]


def stops_at_rung(
    own: Reported,
    peers: Sequence[Reported],
    *,
    goal: Goal,
    eta: float,
    strict: bool = True,
    settled: bool = False,
) -> bool:
    """True if ``own`` is outside the top ``floor(n / eta)`` of ``[own, *peers]``.

    That is: at least that many peers are strictly better than ``own`` (a better score, or the
    same score and a lower tie-break value). ``settled`` keeps at least the best (see the module
    docstring).
    """
    keep = _places(len(peers) + 1, eta=eta, strict=strict, settled=settled)
    mine = _as_rung_score(own)
    better = sum(_strictly_better(_as_rung_score(peer), mine, goal) for peer in peers)
    return better >= keep


def should_stop(
    iteration: int,
    score: Reported,
    peer_scores_at_rung: Sequence[Reported],
    *,
    goal: Goal,
    eta: float,
    strict: bool = True,
    rungs: Collection[int] | None = None,
) -> bool:
    """True if a trial that reported ``score`` at ``iteration`` should pause.

    ``peer_scores_at_rung`` are the *other* trials' scores recorded at this rung so far; the
    trial's own score is added here. ``iteration`` is taken to be a rung unless ``rungs`` is
    given, in which case an iteration that is not a rung never stops.
    """
    if rungs is not None and iteration not in rungs:
        return False
    return stops_at_rung(score, peer_scores_at_rung, goal=goal, eta=eta, strict=strict)


def wandb_threshold(scores: Sequence[float], *, goal: Goal, eta: float) -> float | None:
    """W&B's threshold at one band, as a score: ``sorted(values)[int((1 / eta) * n)]``.

    ``scores`` are every run's value at the band. Non-finite ones are dropped first, as W&B's
    ``metric_history(filter_invalid=True)`` does; ``None`` when none is left.
    """
    values = sorted(_loss(s, goal) for s in scores if math.isfinite(s))
    if not values:
        return None
    # W&B computes r = 1.0 / eta and indexes with int(r * n); same float steps, same index.
    threshold = values[int((1.0 / eta) * len(values))]
    return threshold if goal == "minimize" else -threshold


def wandb_stops(own: float, peers: Sequence[float], *, goal: Goal, eta: float) -> bool:
    """W&B's strict rule: stop when ``own`` (at the band) is strictly worse than the threshold.

    ``peers`` are the other runs' values at the band; ``own`` counts among the values the
    threshold is taken from. A non-finite ``own`` is not a report to W&B, so it stops nothing.
    """
    if not math.isfinite(own):
        return False
    threshold = wandb_threshold([own, *peers], goal=goal, eta=eta)
    assert threshold is not None, "own is finite, so there is a value"
    return _loss(own, goal) > _loss(threshold, goal)


class Hyperband:
    """Hyperband decisions for one sweep: its rungs, goal, ``eta``, ``strict`` and ``rule``.

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
        self.rule: HyperbandRule = config.early_terminate.rule
        self.rungs = rung_schedule(config.early_terminate, max_iteration=max_iteration)
        self._rung_set = frozenset(self.rungs)

    def decide(self, iteration: int, score: Reported, peers: Sequence[Reported]) -> Decision:
        """Continue or pause a trial that reported ``score`` at ``iteration``.

        ``peers`` are the other trials' scores at this iteration (see :meth:`peer_scores`).
        """
        if iteration not in self._rung_set:
            return Decision("continue", None, None)
        if self.rule == "wandb_strict":
            # W&B's rule reads scores only: the tie-break value plays no part.
            own, others = _as_rung_score(score).score, [_as_rung_score(p).score for p in peers]
            stop = wandb_stops(own, others, goal=self.goal, eta=self.eta)
            threshold = wandb_threshold([own, *others], goal=self.goal, eta=self.eta)
            return Decision("stop" if stop else "continue", iteration, threshold)
        cutoff = promotion_cutoff([*peers, score], goal=self.goal, eta=self.eta, strict=self.strict)
        stop = stops_at_rung(score, peers, goal=self.goal, eta=self.eta, strict=self.strict)
        return Decision("stop" if stop else "continue", iteration, cutoff)

    def promotable(
        self,
        scores: Mapping[TrialKey, Reported],
        paused: Collection[TrialKey],
        *,
        settled: bool = False,
    ) -> list[TrialKey]:
        """The ``paused`` trials that are now in the top of their rung, best first.

        ``scores`` are every trial's scores at one rung (paused, running and finished trials
        alike); ``paused`` names the trials paused at that rung. ``settled``: nothing else will
        reach this rung, so the best paused trial is promoted even below ``eta`` scores.
        Under W&B's strict stopper (``rule == "wandb_strict"``) a stopped run stays stopped: none.
        """
        if self.rule == "wandb_strict":
            return []
        everyone = list(scores.items())
        chosen = [
            key
            for key, own in everyone
            if key in paused
            and not stops_at_rung(
                own,
                [peer for other, peer in everyone if other != key],
                goal=self.goal,
                eta=self.eta,
                strict=self.strict,
                settled=settled,
            )
        ]
        return sorted(chosen, key=lambda key: _loss(_as_rung_score(scores[key]).score, self.goal))

    def paused_rung(self, iterations: Collection[int]) -> int | None:
        """The rung a trial that recorded ``iterations`` and was paused is waiting at (its last)."""
        reached = [rung for rung in self.rungs if rung in iterations]
        return reached[-1] if reached else None

    @staticmethod
    def peer_scores(rung: int, others: Sequence[TrialObservation]) -> list[float]:
        """The scores the ``others`` recorded at ``rung`` (leave the deciding trial out)."""
        return [float(obs.intermediate[rung]) for obs in others if rung in obs.intermediate]


def _places(n: int, *, eta: float, strict: bool, settled: bool = False) -> int:
    """How many of ``n`` scores at a rung continue: the top ``1/eta`` (at least the best if settled)."""
    top = math.floor(n / eta) if strict else math.floor(n / eta) + 1
    return min(n, max(1, top) if settled else top)


def _as_rung_score(reported: Reported) -> RungScore:
    return reported if isinstance(reported, RungScore) else RungScore(float(reported))


def _strictly_better(peer: RungScore, own: RungScore, goal: Goal) -> bool:
    peer_loss, own_loss = _loss(peer.score, goal), _loss(own.score, goal)
    if peer_loss != own_loss:
        return peer_loss < own_loss
    if peer.tie_break is None or own.tie_break is None:
        return False  # a tie nothing breaks continues, as in W&B
    return _loss(peer.tie_break, "minimize") < _loss(own.tie_break, "minimize")


def _loss(score: float, goal: Goal) -> float:
    """Lower is better, whatever the goal; NaN is worst."""
    if math.isnan(score):
        return math.inf
    return score if goal == "minimize" else -score
