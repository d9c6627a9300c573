"""Hyperband rungs for both W&B forms, and ASHA's pause and promotion rules on scores worked out by hand."""

from __future__ import annotations

import math
from typing import Any

import pytest

from sweepfirst.search import (
    Decision,
    EarlyTerminate,
    Hyperband,
    RungScore,
    SweepConfig,
    TrialObservation,
    parse_sweep_config,
    rung_schedule,
    should_stop,
)


def hyperband_sweep(goal: str = "minimize", **block: Any) -> SweepConfig:
    return parse_sweep_config(
        {
            "method": "random",
            "metric": {"name": "loss", "goal": goal},
            "parameters": {"a": {"values": [1, 2]}},
            "early_terminate": {"type": "hyperband", **block},
        },
        where="sweep",
    )


@pytest.mark.parametrize(
    ("spec", "rungs"),
    [
        # W&B docs: min_iter 3 -> [3, 9, 27, 81, ...]
        (EarlyTerminate(min_iter=3), (3, 9, 27, 81)),
        (EarlyTerminate(min_iter=1, eta=2), (1, 2, 4, 8, 16, 32, 64)),
        # W&B docs: max_iter 27, s 2 -> 27/3 = 9 and 27/9 = 3
        (EarlyTerminate(max_iter=27, s=2), (3, 9)),
        (EarlyTerminate(max_iter=81, s=3), (3, 9, 27)),
        # 5/2 = 2.5 -> 2, 5/4 = 1.25 -> 1 (W&B truncates)
        (EarlyTerminate(max_iter=5, s=2, eta=2), (1, 2)),
        # 10/3 -> 3, 10/9 -> 1, 10/27 < 1 is dropped however large s is
        (EarlyTerminate(max_iter=10, s=5), (1, 3)),
    ],
)
def test_rung_schedules(spec: EarlyTerminate, rungs: tuple[int, ...]) -> None:
    assert rung_schedule(spec, max_iteration=100) == rungs


def test_min_iter_schedule_is_bounded_by_default() -> None:
    rungs = rung_schedule(EarlyTerminate(min_iter=3))
    assert rungs[:4] == (3, 9, 27, 81)
    assert rungs[-1] == 3**19  # the last below 2**31


# eta = 3, minimize. With n scores at the rung (own included), the top floor(n / 3) continue.
@pytest.mark.parametrize(
    ("score", "peers", "stop"),
    [
        (0.9, [0.5, 0.7], True),  # n=3: top 1 is 0.5
        (0.4, [0.5, 0.7], False),  # n=3: it is the best
        (0.5, [0.5, 0.9], False),  # n=3: ties with the best continue
        (0.9, [0.1], True),  # n=2 < eta: nobody continues yet, the best included
        (0.05, [0.1], True),
        (0.9, [], True),  # first at the rung: it waits for a promotion
        (0.25, [0.1, 0.2, 0.3, 0.4, 0.5], True),  # n=6: top 2 are 0.1, 0.2
        (0.15, [0.1, 0.2, 0.3, 0.4, 0.5], False),  # n=6: 0.1, 0.15 are the top 2
        (0.3, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], False),  # n=9: top 3 are 0.1 .. 0.3
        (0.35, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], True),
        (math.nan, [0.5, 0.7], True),  # NaN ranks last
        (0.6, [math.nan, math.nan], False),  # ... so a real score beats two NaNs
    ],
)
def test_promotion_rule_minimize(score: float, peers: list[float], stop: bool) -> None:
    assert should_stop(9, score, peers, goal="minimize", eta=3) is stop


def test_promotion_rule_maximize() -> None:
    assert should_stop(3, 0.7, [0.8, 0.6], goal="maximize", eta=3) is True  # top 1 is 0.8
    assert should_stop(3, 0.9, [0.8, 0.6], goal="maximize", eta=3) is False
    # eta 2, n=4: top 2 of 0.9, 0.8, 0.7, 0.6
    assert should_stop(3, 0.8, [0.9, 0.7, 0.6], goal="maximize", eta=2) is False
    assert should_stop(3, 0.7, [0.9, 0.8, 0.6], goal="maximize", eta=2) is True


# eta = 3, maximize accuracy; tie-break values are eval_loss (lower is better).
@pytest.mark.parametrize(
    ("own", "peers", "stop"),
    [
        # n=3, all at the majority-class accuracy: only the lowest loss continues.
        (RungScore(0.68, 0.62), [RungScore(0.68, 0.60), RungScore(0.68, 0.65)], True),
        (RungScore(0.68, 0.59), [RungScore(0.68, 0.60), RungScore(0.68, 0.65)], False),
        # A better accuracy beats any loss; a worse one loses to any loss.
        (RungScore(0.70, 0.90), [RungScore(0.68, 0.10), RungScore(0.68, 0.20)], False),
        (RungScore(0.66, 0.01), [RungScore(0.68, 0.90), RungScore(0.60, 0.90)], True),
        # Equal loss too: a true tie, which continues.
        (RungScore(0.68, 0.60), [RungScore(0.68, 0.60), RungScore(0.50, 0.70)], False),
        # A peer without a loss cannot break the tie with it: W&B's rule, ties continue.
        (RungScore(0.68, 0.62), [RungScore(0.68, None), RungScore(0.68, 0.65)], False),
        (RungScore(0.68, None), [RungScore(0.68, 0.10), RungScore(0.68, 0.20)], False),
        # n=6 keeps 2: two strictly better (one by accuracy, one by loss) stop it.
        (RungScore(0.68, 0.62), [RungScore(0.71, 0.90), RungScore(0.68, 0.61), RungScore(0.68, 0.63),
                                 RungScore(0.68, 0.70), RungScore(0.60, 0.50)], True),
        (RungScore(0.68, 0.62), [RungScore(0.71, 0.90), RungScore(0.68, 0.63), RungScore(0.68, 0.64),
                                 RungScore(0.68, 0.70), RungScore(0.60, 0.50)], False),
        # Plain floats are scores without a tie-break value.
        (0.68, [0.68, 0.68], False),
    ],
)
def test_ties_on_the_metric_are_broken_by_the_loss(own: RungScore | float, peers: list[RungScore], stop: bool) -> None:
    assert should_stop(1, own, peers, goal="maximize", eta=3) is stop


def test_decide_reports_the_score_cutoff_and_stops_on_the_loss() -> None:
    hyperband = Hyperband(hyperband_sweep("maximize", min_iter=1, eta=3), max_iteration=9)
    peers = [RungScore(0.6757, 0.640), RungScore(0.6757, 0.655)]
    assert hyperband.decide(1, RungScore(0.6757, 0.660), peers) == Decision("stop", 1, 0.6757)
    assert hyperband.decide(1, RungScore(0.6757, 0.630), peers) == Decision("continue", 1, 0.6757)


def test_non_strict_keeps_one_more_like_w_and_b_stopper() -> None:
    # n=3, eta=3: strict keeps 1, non-strict keeps 2 (W&B's sorted(scores)[int(n / eta)]).
    assert should_stop(3, 0.6, [0.5, 0.7], goal="minimize", eta=3, strict=True) is True
    assert should_stop(3, 0.6, [0.5, 0.7], goal="minimize", eta=3, strict=False) is False
    assert should_stop(3, 0.8, [0.5, 0.7], goal="minimize", eta=3, strict=False) is True
    # n=2: non-strict keeps 1 (W&B's threshold is the better of the two), strict none yet.
    assert should_stop(3, 0.6, [0.5], goal="minimize", eta=3, strict=False) is True
    assert should_stop(3, 0.4, [0.5], goal="minimize", eta=3, strict=False) is False
    assert should_stop(3, 0.4, [0.5], goal="minimize", eta=3, strict=True) is True
    # The first at a rung: non-strict lets it on.
    assert should_stop(3, 0.9, [], goal="minimize", eta=3, strict=False) is False


def test_paused_trials_are_promoted_once_later_arrivals_rank_them_in_the_top() -> None:
    hyperband = Hyperband(hyperband_sweep("maximize", min_iter=1, eta=3), max_iteration=9)
    # Trials a and b arrived first at rung 1 and paused (floor(1/3) = floor(2/3) = 0).
    scores: dict[str, float | RungScore] = {"a": 0.70, "b": 0.60}
    assert hyperband.promotable(scores, {"a", "b"}) == []
    # c arrives worse than both: n=3 keeps 1, and that is a, still paused: promote it.
    scores["c"] = 0.55
    assert hyperband.promotable(scores, {"a", "b", "c"}) == ["a"]
    # Six scores keep 2; a ran on already (not paused), so b is the one to promote.
    scores.update({"d": 0.50, "e": 0.40, "f": 0.30})
    assert hyperband.promotable(scores, {"b", "c", "d", "e", "f"}) == ["b"]
    # Seven keep 2 as well: a better late arrival (g, which continued at once) pushes b out.
    scores["g"] = 0.90
    assert hyperband.promotable(scores, {"b", "c", "d", "e", "f"}) == []
    # Several due at once come best first.
    assert hyperband.promotable(scores, {"a", "b", "g"}) == ["g", "a"]


def test_promotion_breaks_ties_by_the_loss_and_settled_rungs_promote_their_best() -> None:
    hyperband = Hyperband(hyperband_sweep("maximize", min_iter=1, eta=3), max_iteration=9)
    tied = {"a": RungScore(0.68, 0.65), "b": RungScore(0.68, 0.61), "c": RungScore(0.68, 0.70)}
    assert hyperband.promotable(tied, {"a", "b", "c"}) == ["b"]
    # Below eta scores nothing is promoted until the sweep is settled; then the best is.
    two = {"a": RungScore(0.68, 0.65), "b": RungScore(0.70, 0.90)}
    assert hyperband.promotable(two, {"a", "b"}) == []
    assert hyperband.promotable(two, {"a", "b"}, settled=True) == ["b"]
    assert hyperband.promotable({"a": 0.5}, {"a"}, settled=True) == ["a"]
    # Settled only ever adds the best: three scores keep one either way.
    assert hyperband.promotable(tied, {"a", "c"}, settled=True) == []


def test_paused_rung_is_the_last_rung_a_trial_recorded() -> None:
    hyperband = Hyperband(hyperband_sweep(min_iter=1, eta=3), max_iteration=12)
    assert hyperband.rungs == (1, 3, 9)
    assert hyperband.paused_rung({1, 2, 3}) == 3
    assert hyperband.paused_rung({1}) == 1
    assert hyperband.paused_rung(set()) is None


def test_should_stop_ignores_non_rungs_when_told_the_rungs() -> None:
    assert should_stop(4, 0.9, [0.1, 0.2], goal="minimize", eta=3, rungs=(3, 9)) is False
    assert should_stop(3, 0.9, [0.1, 0.2], goal="minimize", eta=3, rungs=(3, 9)) is True


def test_hyperband_decide() -> None:
    hyperband = Hyperband(hyperband_sweep(min_iter=2, eta=2), max_iteration=20)
    assert hyperband.rungs == (2, 4, 8, 16)
    assert hyperband.decide(3, 100.0, [0.1, 0.2]) == Decision("continue", None, None)
    # At rung 4, scores 0.3 (own), 0.1, 0.2, 0.4: top floor(4 / 2) = 2 are 0.1 and 0.2.
    decision = hyperband.decide(4, 0.3, [0.1, 0.2, 0.4])
    assert decision == Decision("stop", 4, 0.2) and decision.stop
    assert hyperband.decide(4, 0.15, [0.1, 0.2, 0.4]) == Decision("continue", 4, 0.15)
    # One peer: n=2 reaches eta=2, so the better of the two continues.
    assert hyperband.decide(2, 0.5, [0.4]) == Decision("stop", 2, 0.4)
    assert hyperband.decide(2, 0.3, [0.4]) == Decision("continue", 2, 0.3)
    # The first at a rung pauses: no cutoff yet.
    assert hyperband.decide(2, 0.5, []) == Decision("stop", 2, None)


def test_hyperband_maximize_and_max_iter_form() -> None:
    hyperband = Hyperband(hyperband_sweep("maximize", max_iter=27, s=2, strict=False))
    assert hyperband.rungs == (3, 9)
    assert (hyperband.goal, hyperband.eta, hyperband.strict) == ("maximize", 3.0, False)
    # n=3, non-strict keeps 2: 0.9 and 0.8 continue, 0.7 stops.
    assert hyperband.decide(9, 0.8, [0.9, 0.7]) == Decision("continue", 9, 0.8)
    assert hyperband.decide(9, 0.7, [0.9, 0.8]) == Decision("stop", 9, 0.8)


def test_peer_scores_come_from_intermediate_values() -> None:
    others = [
        TrialObservation({"a": 1}, 0.3, "complete", {3: 0.5, 9: 0.3}),
        TrialObservation({"a": 2}, 0.6, "pruned", {3: 0.6}),
        TrialObservation({"a": 1}, None, "running", {}),
    ]
    assert Hyperband.peer_scores(3, others) == [0.5, 0.6]
    assert Hyperband.peer_scores(9, others) == [0.3]


def test_hyperband_needs_an_early_terminate_block() -> None:
    config = parse_sweep_config({"method": "random", "parameters": {"a": {"value": 1}}}, where="")
    with pytest.raises(ValueError):
        Hyperband(config)
