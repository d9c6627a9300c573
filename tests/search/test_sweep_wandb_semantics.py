"""The same YAML means the same sweep as on W&B: each expectation is W&B's rule, written out here.

W&B's sweep engine is the ``sweeps`` package (wandb/sweeps on GitHub, ``pip install sweeps``);
each test names the file and function whose rule it restates. The rules are restated, not
imported: ``sweeps`` is not a dependency of sweepfirst.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import scipy.stats
import yaml

from sweepfirst.errors import SpecError
from sweepfirst.search import (
    Hyperband,
    RungScore,
    SweepConfig,
    TrialObservation,
    make_proposer,
    parse_sweep_config,
)
from sweepfirst.spec import Workflow
from sweepfirst.sweep_config import sweep_config_for, sweep_metric

WHERE = "methods.lora.sweep"
LR = f"{WHERE}.parameters.learning_rate"


def sweep(method: str, params: dict[str, Any], **extra: Any) -> SweepConfig:
    return parse_sweep_config({"method": method, "parameters": params, **extra}, where=WHERE)


def error_for(raw: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as caught:
        parse_sweep_config(raw, where=WHERE)
    return caught.value.message


# -- 1. grid values: sweeps/grid_search.py, grid_search_next_runs -------------------------------
#
#   int_uniform -> [val for val in range(min, max + 1)]
#   q_uniform   -> np.arange(min, max, q).tolist()
#   anything but categorical, constant, int_uniform, q_uniform -> ValueError


def grid_axis(spec: dict[str, Any]) -> list[Any]:
    proposals = make_proposer(sweep("grid", {"r": spec}), seed=0).propose([], 10_000)
    return [p["r"] for p in proposals]


def test_q_uniform_grid_leaves_max_out() -> None:
    # np.arange(8, 64, 8) == [8, 16, 24, 32, 40, 48, 56]: seven values, 64 is not one.
    config = sweep("grid", {"r": {"distribution": "q_uniform", "min": 8, "max": 64, "q": 8}})
    assert config.total_trials == 7
    axis = grid_axis({"distribution": "q_uniform", "min": 8, "max": 64, "q": 8})
    assert axis == [8, 16, 24, 32, 40, 48, 56]
    assert all(type(v) is int for v in axis)  # arange of ints is an int array


@pytest.mark.parametrize(
    ("low", "high", "q"),
    [
        (0.0, 0.2, 0.1),
        (0.0, 1.0, 0.25),
        (0.1, 0.4, 0.1),  # (0.4 - 0.1) / 0.1 = 3.0000000000000004: numpy makes four values
        (1e-5, 1e-4, 2e-5),
        (3, 20, 8),  # starts at min, not at a multiple of q: 3, 11, 19
        (0, 10, 3),
        (8, 64, 1.0),  # q's default is 1.0: floats
        (-1.0, 1.0, 0.3),
    ],
)
def test_q_uniform_grid_is_numpy_arange(low: float, high: float, q: float) -> None:
    expected = np.arange(low, high, q).tolist()
    axis = grid_axis({"distribution": "q_uniform", "min": low, "max": high, "q": q})
    assert len(axis) == len(expected)
    assert axis == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert [type(v) for v in axis] == [type(v) for v in expected]


def test_int_uniform_grid_keeps_both_ends() -> None:
    assert grid_axis({"min": 2, "max": 5}) == list(range(2, 5 + 1))


@pytest.mark.parametrize(
    "distribution", ["q_log_uniform_values", "q_normal", "q_beta", "uniform", "log_uniform_values"]
)
def test_grid_refuses_what_w_and_b_grid_refuses(distribution: str) -> None:
    spec = {"distribution": distribution, "min": 1.0, "max": 8.0, "q": 1.0}
    if distribution in ("q_normal", "q_beta"):
        spec = {"distribution": distribution, "q": 1.0}
    elif distribution in ("uniform", "log_uniform_values"):
        spec = {"distribution": distribution, "min": 1.0, "max": 8.0}
    message = error_for({"method": "grid", "parameters": {"learning_rate": spec}})
    assert message.startswith(f"{LR}.distribution: ")


def test_random_q_uniform_draws_multiples_of_q_not_the_grid_values() -> None:
    # sweeps/params.py, HyperParameter.ppf for Q_UNIFORM: round(uniform(min, max) / q) * q.
    # On [3, 20] with q 8 that is {0, 8, 16}; the grid's values (3, 11, 19) never come up.
    expected = {round(u / 8) * 8 for u in np.linspace(3, 20, 10_001)}
    assert expected == {0, 8, 16}
    config = sweep("random", {"r": {"distribution": "q_uniform", "min": 3, "max": 20, "q": 8}})
    assert config.total_trials == len(expected)
    drawn = {c["r"] for c in make_proposer(config, seed=0).propose([], 10)}
    assert drawn == expected


def test_tried_grid_points_are_recognised_so_the_grid_ends() -> None:
    config = sweep("grid", {"r": {"distribution": "q_uniform", "min": 3, "max": 20, "q": 8}})
    proposer = make_proposer(config, seed=0)
    first = proposer.propose([], 2)
    assert first == [{"r": 3}, {"r": 11}]
    history = [TrialObservation(c, 0.5, "complete") for c in first]
    assert proposer.propose(history, 5) == [{"r": 19}]


# -- 2. hyperband strict: sweeps/hyperband_stopping.py, hyperband_stop_runs ---------------------


def w_and_b_strict_stops(own: float, peers: list[float], goal: str, eta: float) -> bool:
    """hyperband_stop_runs with strict: true, for one run whose latest band is this one.

    history = metric_history(filter_invalid=True), negated when maximizing; band_values are every
    run's value at the band; threshold = sorted(band_values)[int(r * len(band_values))] with
    r = 1.0 / eta; the run stops if history[band - 1] > threshold.
    """
    sign = -1.0 if goal == "maximize" else 1.0
    band_values = [sign * v for v in [own, *peers] if math.isfinite(v)]
    threshold = sorted(band_values)[int((1.0 / eta) * len(band_values))]
    return sign * own > threshold


def strict_hyperband(goal: str, eta: float, strict: bool | None = True) -> Hyperband:
    block: dict[str, Any] = {"type": "hyperband", "min_iter": 1, "eta": eta}
    if strict is not None:
        block["strict"] = strict
    config = sweep(
        "random",
        {"a": {"values": [1, 2]}},
        metric={"name": "loss", "goal": goal},
        early_terminate=block,
    )
    return Hyperband(config, max_iteration=9)


CASES = [
    # (own, peers, goal, eta, W&B's answer worked out by hand)
    (0.9, [], "minimize", 3, False),  # first at the band: the threshold is its own value
    (0.6, [0.5], "minimize", 3, True),  # n=2: threshold sorted[0] = 0.5
    (0.5, [0.6], "minimize", 3, False),
    (0.6, [0.5, 0.7], "minimize", 3, False),  # n=3: threshold sorted[1] = 0.6, not > 0.6
    (0.8, [0.5, 0.7], "minimize", 3, True),
    (0.7, [0.7, 0.7], "minimize", 3, False),  # ties at the threshold continue
    # n=9: sorted[int(9 / 3)] is the 4th best, so the top floor(n / eta) + 1 = 4 continue.
    (0.35, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], "minimize", 3, False),  # 4th: 0.35
    (0.45, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], "minimize", 3, True),  # 4th: 0.4
    (0.7, [0.8, 0.6], "maximize", 3, False),  # negated: sorted[1] = -0.7
    (0.6, [0.8, 0.7], "maximize", 3, True),
    (0.3, [0.1, 0.2, 0.4], "minimize", 2, False),  # n=4, eta 2: sorted[int(0.5 * 4)] = 0.3
    (0.4, [0.1, 0.2, 0.3], "minimize", 2, True),
    (0.6, [math.nan, 0.5], "minimize", 3, True),  # NaN is not a report: n=2, threshold 0.5
]


@pytest.mark.parametrize(("own", "peers", "goal", "eta", "stop"), CASES)
def test_strict_true_is_w_and_b_strict_stopper(
    own: float, peers: list[float], goal: str, eta: float, stop: bool
) -> None:
    expected = w_and_b_strict_stops(own, peers, goal, eta)
    assert expected is stop, "the hand-worked answer disagrees with W&B's rule as written"
    decision = strict_hyperband(goal, eta).decide(1, own, peers)
    assert decision.stop is expected


def test_strict_true_ignores_the_tie_break_and_reports_w_and_b_threshold() -> None:
    hyperband = strict_hyperband("maximize", 3)
    peers = [RungScore(0.68, 0.60), RungScore(0.68, 0.65)]
    # Three tied accuracies: W&B's threshold is 0.68 and nobody is strictly worse.
    decision = hyperband.decide(1, RungScore(0.68, 0.99), peers)
    assert (decision.stop, decision.cutoff) == (False, 0.68)


def test_strict_true_never_resumes_a_stopped_run() -> None:
    # hyperband_stop_runs only returns runs to stop; nothing in W&B restarts them.
    hyperband = strict_hyperband("maximize", 3)
    scores: dict[str, float | RungScore] = {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6, "e": 0.5}
    assert hyperband.promotable(scores, {"b", "c"}) == []
    assert hyperband.promotable(scores, {"b"}, settled=True) == []


def test_only_a_written_strict_true_selects_w_and_b_rule() -> None:
    assert strict_hyperband("minimize", 3, strict=True).rule == "wandb_strict"
    default, loose = strict_hyperband("minimize", 3, None), strict_hyperband("minimize", 3, False)
    assert (default.rule, default.strict) == ("asha", True)
    assert (loose.rule, loose.strict) == ("asha", False)
    # The default stays sweepfirst's ASHA: the first at a rung pauses (W&B's rule would not).
    assert default.decide(1, 0.9, []).stop is True
    assert w_and_b_strict_stops(0.9, [], "minimize", 3) is False


# -- 3. log_uniform warns: sweeps/config/schema.py, check_for_deprecated_distributions ----------
#
#   "<name> uses log_uniform, where min/max specify base-e exponents. Use log_uniform_values to
#   specify limit values." (sweeps/params.py, make_param_log_deprecation_message), for
#   log_uniform, inv_log_uniform and q_log_uniform, whatever the bounds.


def test_log_uniform_with_value_like_bounds_warns_with_the_range_it_proposes() -> None:
    config = sweep(
        "random",
        {"learning_rate": {"distribution": "log_uniform", "min": 0.00001, "max": 0.001}},
        run_cap=4,
    )
    (warning,) = config.warnings
    assert warning.startswith(f"{LR} uses log_uniform, where min/max specify base-e exponents")
    assert "use log_uniform_values to specify limit values" in warning
    # exp(1e-5) and exp(1e-3): learning rates near 1.0, which is the surprise.
    assert f"{math.exp(0.00001):.6g}" == "1.00001" and f"{math.exp(0.001):.6g}" == "1.001"
    assert "between 1.00001 and 1.001" in warning


@pytest.mark.parametrize(
    ("distribution", "replacement"),
    [
        ("inv_log_uniform", "inv_log_uniform_values"),
        ("q_log_uniform", "q_log_uniform_values"),
    ],
)
def test_every_log_space_distribution_warns(distribution: str, replacement: str) -> None:
    config = sweep(
        "random",
        {"opt": {"parameters": {"lr": {"distribution": distribution, "min": -9.0, "max": -2.0}}}},
        run_cap=2,
    )
    (warning,) = config.warnings
    assert warning.startswith(f"{WHERE}.parameters.opt.parameters.lr uses {distribution}, ")
    assert f"use {replacement} to specify limit values" in warning


def test_value_space_distributions_do_not_warn() -> None:
    config = sweep(
        "random",
        {"learning_rate": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-3}},
        run_cap=2,
    )
    assert config.warnings == ()


# -- 4. probabilities: sweeps/config/schema.py, validate_categorical_prob -----------------------
#
#   if not np.isclose(sum(parameter_config["probabilities"]), 1.0): raise


@pytest.mark.parametrize(
    "probabilities",
    [[0.5, 0.499999], [0.5, 0.49998], [0.5, 0.500005], [0.5, 0.50002], [0.1] * 10, [0.3, 0.3]],
)
def test_probabilities_sum_is_judged_by_np_isclose(probabilities: list[float]) -> None:
    spec = {"values": list(range(len(probabilities))), "probabilities": probabilities}
    raw = {"method": "random", "parameters": {"learning_rate": spec}}
    if np.isclose(sum(probabilities), 1.0):
        parse_sweep_config(raw, where=WHERE)
    else:
        assert error_for(raw).startswith(f"{LR}.probabilities: ")


def test_probabilities_are_sampled_without_normalising_as_w_and_b_does() -> None:
    # sweeps/params.py, ppf for CATEGORICAL_PROB: values[np.argmin(x >= np.cumsum(p))], no
    # normalisation. Below the sum (0.999999 here) that is the first value whose cumsum exceeds x.
    values, probabilities = ["a", "b", "c"], [0.2, 0.0, 0.799999]
    (param,) = sweep("random", {"k": {"values": values, "probabilities": probabilities}}).parameters
    cdf = np.cumsum(probabilities)
    for u in np.linspace(1e-9, 0.999998, 2001):
        assert param.ppf(float(u)) == values[int(np.argmin(u >= cdf))]


# -- 5. sigma 0, a 0, b 0: sweeps/config/schema.json allows them ("minimum": 0) ----------------
#
# ... but sweeps/params.py draws with scipy.stats ppf, which is NaN for a zero scale or shape.
# A sweep of NaN hyperparameters is W&B being wrong, so these are refused, saying why.


@pytest.mark.parametrize(
    ("spec", "key", "w_and_b_draw", "fix"),
    [
        ({"distribution": "normal", "mu": 0.5, "sigma": 0}, "sigma",
         lambda u: scipy.stats.norm.ppf(u, loc=0.5, scale=0), "value: 0.5"),
        ({"distribution": "q_normal", "mu": 7, "sigma": 0, "q": 2}, "sigma",
         lambda u: scipy.stats.norm.ppf(u, loc=7, scale=0), "value: 8"),
        ({"distribution": "log_normal", "mu": 0.0, "sigma": 0.0}, "sigma",
         lambda u: scipy.stats.lognorm.ppf(u, s=0.0, scale=np.exp(0.0)), "value: 1"),
        ({"distribution": "q_log_normal", "sigma": 0}, "sigma",
         lambda u: scipy.stats.lognorm.ppf(u, s=0, scale=np.exp(0)), "value: 1"),
        ({"distribution": "beta", "a": 0}, "a", lambda u: scipy.stats.beta.ppf(u, a=0, b=1), "a"),
        ({"distribution": "q_beta", "b": 0.0}, "b",
         lambda u: scipy.stats.beta.ppf(u, a=1, b=0.0), "b"),
    ],
)
def test_zero_scale_is_refused_because_w_and_b_would_draw_nan(
    spec: dict[str, Any], key: str, w_and_b_draw: Any, fix: str
) -> None:
    with np.errstate(all="ignore"):
        assert all(math.isnan(float(w_and_b_draw(u))) for u in (0.1, 0.5, 0.9))
    message = error_for({"method": "random", "parameters": {"learning_rate": spec}, "run_cap": 2})
    assert message.startswith(f"{LR}.{key}: {key} 0 passes W&B's schema, but W&B draws with ")
    assert "NaN for every trial" in message and fix in message


# -- 6. numbers YAML read as text --------------------------------------------------------------


def test_pyyaml_reads_these_numbers_as_text() -> None:
    # The premise: YAML 1.1 floats need a dot and a signed exponent.
    loaded = yaml.safe_load("a: 1e-5\nb: 5e-6\nc: 1.0e5\nd: 1.0e-5\ne: 1.0e+5")
    assert loaded == {"a": "1e-5", "b": "5e-6", "c": "1.0e5", "d": 1.0e-5, "e": 1.0e5}


SWEEP_WITH_TEXT_NUMBERS = """
method: random
run_cap: 5
metric: {name: eval_loss, goal: minimize, target: 1e-1}
early_terminate: {type: hyperband, min_iter: 1, eta: 3e0}
parameters:
  learning_rate: {distribution: log_uniform_values, min: 1e-5, max: 1.0e-3}
  weight_decay: {min: 0, max: 1e-1}
  warmup_ratio: {distribution: q_uniform, min: 0, max: 2e-1, q: 5e-2}
  noise: {distribution: normal, mu: 1e-1, sigma: 5e-2}
  mix: {distribution: beta, a: 2e0, b: 5e0}
  adam_epsilon: {value: 1e-8}
  max_steps: {value: 1.0e5}
  lr_choice: {values: [1e-4, 3e-4, 0.001]}
  quoted: {values: ["1e-4", "3e-4"]}
  weighted: {values: [1e-4, 2e-4], probabilities: [5e-1, 5e-1]}
  optimizer: {values: [adamw, sgd]}
  mixed: {values: [adamw, 1e-4]}
  tag: {value: "0.5"}
"""


def test_numbers_yaml_read_as_text_are_numbers_in_every_numeric_field() -> None:
    config = parse_sweep_config(yaml.safe_load(SWEEP_WITH_TEXT_NUMBERS), where=WHERE)
    p = {param.name: param for param in config.parameters}
    assert (p["learning_rate"].min, p["learning_rate"].max) == (1e-5, 1e-3)
    assert (p["weight_decay"].distribution.value, p["weight_decay"].max) == ("uniform", 0.1)
    assert (p["warmup_ratio"].max, p["warmup_ratio"].q) == (0.2, 0.05)
    assert (p["noise"].mu, p["noise"].sigma) == (0.1, 0.05)
    assert (p["mix"].a, p["mix"].b) == (2.0, 5.0)
    assert p["adam_epsilon"].value == 1e-8
    assert p["max_steps"].value == 100000.0
    assert p["lr_choice"].values == (1e-4, 3e-4, 0.001)
    assert p["quoted"].values == (1e-4, 3e-4)
    assert p["weighted"].probabilities == (0.5, 0.5)
    assert config.metric is not None and config.metric.target == 0.1
    assert config.early_terminate is not None and config.early_terminate.eta == 3.0
    # Words stay words; so does a list that mixes them, and a number someone put in quotes.
    assert p["optimizer"].values == ("adamw", "sgd")
    assert p["mixed"].values == ("adamw", "1e-4")
    assert p["tag"].value == "0.5"
    drawn = make_proposer(config, seed=0).propose([], 3)
    assert all(1e-5 <= c["learning_rate"] <= 1e-3 and c["adam_epsilon"] == 1e-8 for c in drawn)


@pytest.mark.parametrize(("text", "whole"), [("1e2", "100"), ("1.0e5", "100000")])
def test_a_whole_number_setting_says_yaml_read_it_as_text(text: str, whole: str) -> None:
    raw = yaml.safe_load(f"method: random\nrun_cap: {text}\nparameters: {{a: {{value: 1}}}}")
    assert raw["run_cap"] == text
    message = error_for(raw)
    assert message == (
        f"{WHERE}.run_cap: YAML read {text} as text, not a number, and this setting takes a whole "
        f"number; write {whole}."
    )


# -- 7. metric names ---------------------------------------------------------------------------
#
# The Trainer records "eval_" + the name compute_metrics returns (sweepfirst/tasks.py:
# mrpc reports accuracy and f1, so eval_accuracy and eval_f1, plus eval_loss); W&B's HF
# integration logs the same values as eval/accuracy, eval/loss.


def workflow_with_metric(name: str) -> Workflow:
    sweep_block = {
        "method": "grid",
        "metric": {"name": name, "goal": "maximize"},
        "parameters": {"learning_rate": {"values": [1e-5, 2e-5]}},
    }
    return Workflow.model_validate({
        "name": "metric", "model": "tiny", "tasks": ["mrpc"],
        "methods": {"full_finetune": {"sweep": sweep_block}},
        "seeds": {"sweep": [0], "production": [42]},
    })


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("eval/accuracy", "eval_accuracy"),
        ("eval_accuracy", "eval_accuracy"),
        ("accuracy", "eval_accuracy"),
        ("eval/loss", "eval_loss"),
        ("eval_loss", "eval_loss"),
        ("eval/f1", "eval_f1"),
    ],
)
def test_every_spelling_of_a_metric_is_the_trainer_name(name: str, canonical: str) -> None:
    workflow = workflow_with_metric(name)
    config = sweep_config_for(workflow, "mrpc", "full_finetune")
    assert config.metric is not None and config.metric.name == canonical
    assert sweep_metric(workflow, "mrpc", "full_finetune").name == canonical


def test_the_search_layer_reads_w_and_b_slash_names_as_the_trainer_names() -> None:
    for name, canonical in (("eval/loss", "eval_loss"), ("eval/accuracy", "eval_accuracy")):
        config = sweep("random", {"a": {"values": [1]}}, metric={"name": name})
        assert config.metric is not None and config.metric.name == canonical


def test_the_training_loss_is_not_taken_for_the_evaluation_loss() -> None:
    with pytest.raises(SpecError, match="does not report"):
        sweep_config_for(workflow_with_metric("train/loss"), "mrpc", "full_finetune")


# -- 8. every unknown key in one message -------------------------------------------------------


def test_every_unknown_key_is_reported_at_once() -> None:
    raw = {
        "method": "random",
        "run_cap": 2,
        "sweeps": 3,
        "metric": {"name": "loss", "mode": "max"},
        "early_terminate": {"type": "hyperband", "min_iter": 3, "patience": 2},
        "parameters": {
            "learning_rate": {"min": 0.0, "max": 1.0, "q": 0.1},
            "opt": {"parameters": {"beta": {"values": [1], "probability": [1.0]}}},
            "no_such_hyperparameter": {"value": 1},  # a name, not a key: not this check's business
        },
    }
    message = error_for(raw)
    assert message.startswith(f"{WHERE}: 5 keys are not settings W&B knows: ")
    for path in (
        f"{WHERE}.sweeps",
        f"{WHERE}.metric.mode",
        f"{WHERE}.early_terminate.patience",
        f"{LR}.q",
        f"{WHERE}.parameters.opt.parameters.beta.probability",
    ):
        assert f"{path} (" in message, path
    assert "no_such_hyperparameter" not in message
    assert "(a uniform parameter takes distribution, max, min)" in message
    assert message.endswith("; remove or rename each of them.") and "\n" not in message
