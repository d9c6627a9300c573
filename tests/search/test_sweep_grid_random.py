"""Grid enumerates exactly the product; random is reproducible and batching-independent."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from sweepfirst.search import SweepConfig, TrialObservation, make_proposer, parse_sweep_config
from sweepfirst.search.strategies import Proposer

GRID_PARAMS = {
    "b_size": {"values": [16, 32, 64]},
    "a_layers": {"min": 1, "max": 2},
    "dropout": {"distribution": "q_uniform", "min": 0.0, "max": 0.2, "q": 0.1},
    "opt": {"parameters": {"name": {"value": "adamw"}, "beta": {"values": [0.9, 0.99]}}},
}


def sweep(method: str, params: dict[str, Any], **extra: Any) -> SweepConfig:
    return parse_sweep_config({"method": method, "parameters": params, **extra}, where="sweep")


def ran(configs: Sequence[dict[str, Any]], state: str = "complete") -> list[TrialObservation]:
    return [TrialObservation(params=c, score=0.5, state=state) for c in configs]  # type: ignore[arg-type]


def run_one_by_one(proposer: Proposer, count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(count):
        out.extend(proposer.propose(ran(out), 1))
    return out


def test_grid_enumerates_exactly_the_product_in_order() -> None:
    proposer = make_proposer(sweep("grid", GRID_PARAMS), seed=0)
    # W&B's grid: int_uniform is range(min, max + 1); q_uniform is np.arange(min, max, q), which
    # leaves max out: 0.0, 0.1.
    assert proposer.total_trials == 2 * 3 * 2 * 2
    proposals = proposer.propose([], 100)
    # Parameters sorted by path, the first varying slowest: a_layers, b_size, dropout, opt.beta.
    expected = [
        {"a_layers": a, "b_size": b, "dropout": d, "opt": {"beta": beta, "name": "adamw"}}
        for a, b, d, beta in itertools.product([1, 2], [16, 32, 64], [0.0, 0.1], [0.9, 0.99])
    ]
    assert proposals == expected
    assert proposer.propose(ran(proposals), 1) == []


def test_grid_is_batching_independent_and_skips_every_tried_config() -> None:
    proposer = make_proposer(sweep("grid", GRID_PARAMS), seed=0)
    everything = proposer.propose([], 100)
    assert run_one_by_one(proposer, 24) == everything
    # Failed and running trials count as tried; configurations outside the grid are ignored.
    history = ran(everything[:2], "failed") + ran(everything[5:6], "running") + ran([{"x": 1}])
    rest = proposer.propose(history, 100)
    assert rest == everything[2:5] + everything[6:]


def test_grid_respects_run_cap() -> None:
    proposer = make_proposer(sweep("grid", GRID_PARAMS, run_cap=4), seed=0)
    assert proposer.total_trials == 4
    first = proposer.propose([], 3)
    assert len(first) == 3
    assert len(proposer.propose(ran(first), 10)) == 1
    assert proposer.propose(ran(first + first[:1]), 10) == []


def test_grid_with_int_q_and_constant_only() -> None:
    proposer = make_proposer(
        sweep(
            "grid",
            {"r": {"distribution": "q_uniform", "min": 8, "max": 32, "q": 8}, "c": {"value": 1}},
        ),
        seed=0,
    )
    # W&B: np.arange(8, 32, 8) -> 8, 16, 24 (max left out), ints since min, max and q are.
    assert proposer.propose([], 10) == [{"c": 1, "r": r} for r in (8, 16, 24)]


RANDOM_PARAMS = {
    "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-2},
    "warmup": {"min": 0, "max": 500},
    "opt": {
        "parameters": {"beta": {"distribution": "beta", "a": 2, "b": 2}, "eps": {"value": 1e-8}}
    },
}


def test_random_is_reproducible_from_the_seed() -> None:
    config = sweep("random", RANDOM_PARAMS)
    first = make_proposer(config, seed=3).propose([], 5)
    assert make_proposer(config, seed=3).propose([], 5) == first
    assert make_proposer(config, seed=4).propose([], 5) != first
    assert all(c["opt"]["eps"] == 1e-8 and 0 <= c["warmup"] <= 500 for c in first)


def test_random_trial_k_is_the_same_whatever_the_batching() -> None:
    proposer = make_proposer(sweep("random", RANDOM_PARAMS), seed=11)
    batch = proposer.propose([], 12)
    assert run_one_by_one(proposer, 12) == batch
    mixed = proposer.propose([], 5)
    mixed += proposer.propose(ran(mixed), 4)
    mixed += proposer.propose(ran(mixed), 3)
    assert mixed == batch


def test_random_avoids_repeats_in_a_small_discrete_space() -> None:
    proposer = make_proposer(
        sweep("random", {"a": {"values": [1, 2, 3]}, "b": {"values": [0, 1]}}), seed=0
    )
    six = proposer.propose([], 6)
    assert len({(c["a"], c["b"]) for c in six}) == 6


def test_random_respects_run_cap_and_reports_trial_count() -> None:
    assert make_proposer(sweep("random", RANDOM_PARAMS), seed=0).total_trials is None
    proposer = make_proposer(sweep("random", RANDOM_PARAMS, run_cap=3), seed=0)
    assert proposer.total_trials == 3
    two = proposer.propose([], 2)
    assert len(proposer.propose(ran(two), 5)) == 1
    assert proposer.propose(ran(two * 2), 5) == []


def test_no_new_trials_once_the_target_is_reached() -> None:
    config = sweep(
        "random", RANDOM_PARAMS, metric={"name": "acc", "goal": "maximize", "target": 0.9}
    )
    proposer = make_proposer(config, seed=0)
    first = proposer.propose([], 2)
    below = [
        TrialObservation(first[0], 0.85, "complete"),
        TrialObservation(first[1], None, "running"),
    ]
    assert len(proposer.propose(below, 1)) == 1
    reached = [
        TrialObservation(first[0], 0.91, "complete"),
        TrialObservation(first[1], None, "running"),
    ]
    assert proposer.propose(reached, 1) == []


def test_random_over_a_finite_space_stops_when_it_is_exhausted() -> None:
    config = sweep("random", {"a": {"values": [1, 2, 3]}, "b": {"min": 0, "max": 1}}, run_cap=10)
    proposer = make_proposer(config, seed=0)
    assert proposer.total_trials == 6
    six = proposer.propose([], 10)
    assert len(six) == 6 and len({(c["a"], c["b"]) for c in six}) == 6
    assert proposer.propose(ran(six), 1) == []
    assert run_one_by_one(proposer, 6) == six
