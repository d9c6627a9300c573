"""Bayes (optuna TPE) proposes valid configs, rebuilds from history, respects run_cap and running trials."""

from __future__ import annotations

import math
from typing import Any

from sweepfirst.search import SweepConfig, TrialObservation, make_proposer, parse_sweep_config
from sweepfirst.search.configurations import config_key

PARAMS: dict[str, Any] = {
    "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-2},
    "lr_decay": {"distribution": "inv_log_uniform", "min": 0.0, "max": 3.0},
    "layers": {"min": 1, "max": 4},
    "dropout": {"distribution": "q_uniform", "min": 0.0, "max": 0.5, "q": 0.1},
    "rank": {"distribution": "q_log_uniform_values", "min": 4.0, "max": 64.0, "q": 4},
    "shape": {"values": [[64, 64], [128]]},
    "opt": {
        "parameters": {
            "name": {"value": "adamw"},
            "beta": {"distribution": "q_beta", "a": 5, "b": 2, "q": 0.01},
            "scale": {"distribution": "normal", "mu": 1.0, "sigma": 0.1},
            "eps": {"distribution": "log_normal", "mu": -18.0, "sigma": 1.0},
        }
    },
}


def bayes(params: dict[str, Any] = PARAMS, **extra: Any) -> SweepConfig:
    raw = {"method": "bayes", "metric": {"name": "loss"}, "parameters": params, **extra}
    return parse_sweep_config(raw, where="sweep")


def loss(c: dict[str, Any]) -> float:
    return (math.log10(c["lr"]) + 3.5) ** 2 + (c["layers"] - 3) ** 2 + c["dropout"]


def assert_valid(c: dict[str, Any]) -> None:
    assert 1e-5 <= c["lr"] <= 1e-2
    assert math.exp(-3.0) <= c["lr_decay"] <= 1.0
    assert type(c["layers"]) is int and 1 <= c["layers"] <= 4
    assert c["dropout"] in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
    assert type(c["rank"]) is int and c["rank"] % 4 == 0 and 4 <= c["rank"] <= 64
    assert c["shape"] in ([64, 64], [128])
    opt = c["opt"]
    assert opt["name"] == "adamw"
    assert 0.0 <= opt["beta"] <= 1.0 and math.isclose(opt["beta"] * 100, round(opt["beta"] * 100))
    assert math.isfinite(opt["scale"]) and opt["eps"] > 0


def test_bayes_proposes_valid_configs_through_startup_and_tpe() -> None:
    proposer = make_proposer(bayes(), seed=0)
    history: list[TrialObservation] = []
    for _ in range(8):  # 24 trials: 10 random startup trials, then TPE
        batch = proposer.propose(history, 3)
        assert len(batch) == 3
        for c in batch:
            assert_valid(c)
        history += [TrialObservation(c, loss(c), "complete") for c in batch]
    keys = {config_key(o.params, bayes().parameters) for o in history}
    assert len(keys) == len(history)


def test_same_history_and_seed_give_the_same_proposals() -> None:
    config = bayes()
    seed_history = make_proposer(config, seed=1).propose([], 12)
    history = [TrialObservation(c, loss(c), "complete") for c in seed_history[:10]]
    history += [TrialObservation(c, None, "running") for c in seed_history[10:]]
    first = make_proposer(config, seed=5).propose(history, 3)
    again = make_proposer(config, seed=5).propose(history, 3)
    assert first == again
    assert make_proposer(config, seed=6).propose(history, 3) != first


def test_bayes_respects_run_cap() -> None:
    proposer = make_proposer(bayes(run_cap=5), seed=0)
    assert proposer.total_trials == 5
    four = proposer.propose([], 4)
    assert len(four) == 4
    history = [TrialObservation(c, loss(c), "complete") for c in four]
    fifth = proposer.propose(history, 3)
    assert len(fifth) == 1
    assert proposer.propose(history + [TrialObservation(fifth[0], None, "running")], 3) == []


def test_running_trials_are_not_proposed_again_in_a_small_space() -> None:
    params = {"a": {"values": [1, 2, 3, 4]}, "b": {"values": ["x", "y"]}}
    proposer = make_proposer(bayes(params), seed=0)
    done = [{"a": a, "b": "x"} for a in (1, 2, 3, 4)] + [{"a": 1, "b": "y"}]
    history = [TrialObservation(c, float(c["a"]), "complete") for c in done]
    history += [TrialObservation({"a": 2, "b": "y"}, None, "running")]
    assert proposer.total_trials == 8
    rest = proposer.propose(history, 5)
    # Only {3, y} and {4, y} are left; the running {2, y} must not come back.
    assert sorted(rest, key=lambda c: c["a"]) == [{"a": 3, "b": "y"}, {"a": 4, "b": "y"}]
    history += [TrialObservation(c, None, "running") for c in rest]
    assert proposer.propose(history, 1) == []


def test_running_trials_are_not_repeated_after_startup() -> None:
    config = bayes()
    proposer = make_proposer(config, seed=2)
    initial = make_proposer(config, seed=9).propose([], 15)
    history = [TrialObservation(c, loss(c), "complete") for c in initial[:12]]
    running = initial[12:]
    history += [TrialObservation(c, None, "running") for c in running]
    batch = proposer.propose(history, 4)
    assert len(batch) == 4
    keys = [config_key(c, config.parameters) for c in batch]
    assert len(set(keys)) == 4
    assert not set(keys) & {config_key(c, config.parameters) for c in initial}


def test_pruned_failed_and_foreign_trials_are_accepted() -> None:
    config = bayes(
        {"x": {"min": 0.0, "max": 1.0}, "k": {"values": ["a", "b"]}},
        metric={"name": "acc", "goal": "maximize", "impute": "latest"},
    )
    proposer = make_proposer(config, seed=0)
    configs = make_proposer(config, seed=1).propose([], 14)
    history = [TrialObservation(c, c["x"], "complete") for c in configs[:10]]
    history += [
        TrialObservation(configs[10], 0.2, "pruned", {3: 0.1, 9: 0.2}),
        TrialObservation(configs[11], 0.3, "pruned"),
        TrialObservation(configs[12], None, "failed", {3: 0.05}),
        TrialObservation(configs[13], None, "failed"),
        TrialObservation({"x": 0.5, "k": "not-a-value"}, 0.9, "complete"),  # from an older space
        TrialObservation({"y": 1}, 0.9, "complete"),
    ]
    batch = proposer.propose(history, 2)
    assert len(batch) == 2
    assert all(0.0 <= c["x"] <= 1.0 and c["k"] in ("a", "b") for c in batch)


def test_bayes_leans_towards_good_regions() -> None:
    config = bayes({"x": {"min": 0.0, "max": 10.0}})
    proposer = make_proposer(config, seed=0)
    history: list[TrialObservation] = []
    for _ in range(30):
        (c,) = proposer.propose(history, 1)
        history.append(TrialObservation(c, (c["x"] - 2.0) ** 2, "complete"))
    late = [o.params["x"] for o in history[20:]]
    # Random search puts 2 in 10 within 1.0 of the optimum (5 or more: about 3% of the time).
    assert sum(abs(x - 2.0) < 1.0 for x in late) >= 5
