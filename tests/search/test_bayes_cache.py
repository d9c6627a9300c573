"""The bayes proposer keeps its optuna study between calls; its proposals must be exactly those of
a study rebuilt from the whole history on every call (what a coordinator that just took over, or
just started, computes), whatever happens to the trials in between."""

from __future__ import annotations

import math
from typing import Any

from sweepfirst.search.bayes import BayesProposer
from sweepfirst.search.config import parse_sweep_config
from sweepfirst.search.trials import TrialObservation

CONFIG = parse_sweep_config({
    "method": "bayes",
    "metric": {"name": "eval_accuracy", "goal": "maximize", "impute": "worst"},
    "parameters": {
        "learning_rate": {"distribution": "log_uniform_values", "min": 1.0e-5, "max": 1.0e-3},
        "warmup_ratio": {"distribution": "uniform", "min": 0.0, "max": 0.2},
        "per_device_train_batch_size": {"values": [8, 16, 32]},
    },
}, where="test")


def score(config: dict[str, Any]) -> float:
    """A known function: best at learning rate 1e-4, warmup 0.06, batch 16."""
    return (1.0 - abs(math.log10(config["learning_rate"]) + 4) - abs(config["warmup_ratio"] - 0.06)
            - (0.0 if config["per_device_train_batch_size"] == 16 else 0.1))


def rebuilt(history: list[TrialObservation], n: int) -> list[dict[str, Any]]:
    return BayesProposer(CONFIG, seed=7, n_startup_trials=4).propose(history, n)


def test_the_kept_study_proposes_what_a_rebuild_proposes() -> None:
    """40 rounds of two proposals at a time, with trials running across rounds, pruned (with
    intermediate values), failed (imputed), and some finishing out of order."""
    kept = BayesProposer(CONFIG, seed=7, n_startup_trials=4)
    history: list[TrialObservation] = []
    failed_with_evaluations = 0
    for round_number in range(40):
        proposals = kept.propose(history, 2)
        assert proposals == rebuilt(history, 2), f"round {round_number}"
        # The oldest running trial finishes, one way or another; the new ones start running,
        # one of them with an intermediate value already recorded.
        running = [i for i, o in enumerate(history) if o.state == "running"]
        if running:
            i = running[0]
            params = dict(history[i].params)
            kind = i % 5
            so_far = dict(history[i].intermediate)
            if kind == 3:
                history[i] = TrialObservation(params, score(params), "pruned", so_far)
            elif kind == 4:
                history[i] = TrialObservation(params, None, "failed")
                failed_with_evaluations += bool(so_far)
            else:
                history[i] = TrialObservation(params, score(params), "complete", {**so_far, 2: score(params)})
        history += [TrialObservation(p, None, "running", {1: score(p) - 0.1} if j else {})
                    for j, p in enumerate(proposals)]
    # Rebuilt on start-up, and where optuna cannot follow: a failed trial's evaluations are not
    # part of what it is told (it gets the imputed score alone), and a new worst score moves
    # every imputed one. Everything else was followed in place.
    assert kept.rebuilds <= 1 + failed_with_evaluations + 3, kept.rebuilds


def test_a_history_another_coordinator_wrote_rebuilds_the_study() -> None:
    kept = BayesProposer(CONFIG, seed=7, n_startup_trials=4)
    history: list[TrialObservation] = []
    for _ in range(12):
        (proposal,) = kept.propose(history, 1)
        history.append(TrialObservation(proposal, score(proposal), "complete"))
    assert kept.rebuilds == 1  # start-up only
    # Another coordinator took over meanwhile and recorded other trials (its own proposals).
    other = BayesProposer(CONFIG, seed=99, n_startup_trials=4)
    foreign = history[:8]
    for _ in range(4):
        (proposal,) = other.propose(foreign, 1)
        foreign.append(TrialObservation(proposal, score(proposal), "complete"))
    assert kept.propose(foreign, 2) == rebuilt(foreign, 2)
    assert kept.rebuilds == 2
    # A finished trial that runs again (`jobs retry`, a promotion) cannot be edited in optuna: rebuild.
    foreign[3] = TrialObservation(foreign[3].params, None, "running")
    assert kept.propose(foreign, 1) == rebuilt(foreign, 1)
    assert kept.rebuilds == 3


def test_the_sweep_finds_the_known_optimum_region() -> None:
    kept = BayesProposer(CONFIG, seed=7, n_startup_trials=4)
    history: list[TrialObservation] = []
    for _ in range(40):
        (proposal,) = kept.propose(history, 1)
        history.append(TrialObservation(proposal, score(proposal), "complete"))
    best = max(history, key=lambda o: o.score or -1)
    assert best.params["per_device_train_batch_size"] == 16
    assert abs(math.log10(best.params["learning_rate"]) + 4) < 0.3
