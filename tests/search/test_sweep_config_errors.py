"""Every bad sweep config raises SpecError naming the key path under ``where``."""

from __future__ import annotations

from typing import Any

import pytest

from sweepfirst.errors import SpecError
from sweepfirst.search import parse_sweep_config

WHERE = "methods.lora.sweep"
LR = f"{WHERE}.parameters.learning_rate"


def error_for(raw: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as caught:
        parse_sweep_config(raw, where=WHERE)
    return caught.value.message


def with_param(spec: Any, method: str = "random") -> dict[str, Any]:
    return {"method": method, "parameters": {"learning_rate": spec}}


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"min": 0.1, "max": 0.01}, f"{LR}.max"),
        ({"min": 0.1, "max": 0.1}, f"{LR}.max"),  # W&B requires min < max
        ({"distribution": "q_uniform", "min": 0, "max": 1, "q": 0}, f"{LR}.q"),
        ({"distribution": "q_normal", "q": -0.5}, f"{LR}.q"),
        ({"values": [1, 2], "probabilities": [0.5, 0.6]}, f"{LR}.probabilities"),
        ({"values": [1, 2], "probabilities": [1.0]}, f"{LR}.probabilities"),
        ({"values": [1, 2], "probabilities": [-0.5, 1.5]}, f"{LR}.probabilities[0]"),
        ({"values": [1, 2], "probabilities": ["half", 0.5]}, f"{LR}.probabilities[0]"),
        ({"distribution": "normal", "sigma": 0}, f"{LR}.sigma"),
        ({"distribution": "log_normal", "sigma": -1}, f"{LR}.sigma"),
        ({"distribution": "log_uniform_values", "min": 0, "max": 1}, f"{LR}.min"),
        ({"distribution": "q_log_uniform_values", "min": -1.0, "max": 1.0}, f"{LR}.min"),
        ({"distribution": "inv_log_uniform_values", "min": 0.0, "max": 1.0}, f"{LR}.min"),
        ({"distribution": "beta", "a": 0}, f"{LR}.a"),
        ({"distribution": "q_beta", "b": -2}, f"{LR}.b"),
        ({"values": []}, f"{LR}.values"),
        ({"values": 3}, f"{LR}.values"),
        ({"distribution": "categorical"}, f"{LR}.values"),
        ({"distribution": "constant"}, f"{LR}.value"),
        ({"distribution": "gaussian"}, f"{LR}.distribution"),
        ({"min": 0.1}, LR),
        ({"q": 0.1}, LR),
        ({"distribution": "uniform", "min": 0.1}, f"{LR}.max"),
        ({"distribution": "int_uniform", "min": 0.5, "max": 3}, f"{LR}.min"),
        ({"distribution": "normal", "min": 0.0}, f"{LR}.min"),
        ({"value": 1, "values": [1, 2]}, f"{LR}.value"),
        ({"min": 0.0, "max": 1.0, "q": 0.1}, f"{LR}.q"),
        ({"min": "small", "max": 0.1}, f"{LR}.min"),  # text that is no number ("1e-4" is one)
        ({"min": True, "max": 3}, f"{LR}.min"),
        ({"min": 0.0, "max": float("inf")}, f"{LR}.max"),
        (0.1, LR),
        ({"parameters": {"a": {"value": 1}}, "values": [1]}, f"{LR}.values"),
        ({"parameters": {}}, f"{LR}.parameters"),
        ({"parameters": {"a": {"min": 2, "max": 1}}}, f"{LR}.parameters.a.max"),
    ],
)
def test_bad_parameter_names_its_key(spec: Any, path: str) -> None:
    message = error_for(with_param(spec))
    assert message.startswith(f"{path}: "), message
    assert message.endswith(".")


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"method": "random", "parameters": {}}, f"{WHERE}.parameters"),
        ({"method": "random", "parameters": [1]}, f"{WHERE}.parameters"),
        ({"method": "random", "parameters": {"1st": {"value": 1}}}, f"{WHERE}.parameters.1st"),
        ({"parameters": {"a": {"value": 1}}}, f"{WHERE}.method"),
        ({"method": "hyperopt", "parameters": {"a": {"value": 1}}}, f"{WHERE}.method"),
        ({"method": "custom", "parameters": {"a": {"value": 1}}}, f"{WHERE}.method"),
        ({"method": "random"}, f"{WHERE}.parameters"),
        ({"method": "random", "parameters": {"a": {"value": 1}}, "sweeps": 3}, f"{WHERE}.sweeps"),
        ({"method": "random", "parameters": {"a": {"value": 1}}, "run_cap": 0}, f"{WHERE}.run_cap"),
        (
            {"method": "random", "parameters": {"a": {"value": 1}}, "run_cap": "5"},
            f"{WHERE}.run_cap",
        ),
        (
            {"method": "random", "parameters": {"a": {"value": 1}}, "metric": {"goal": "minimize"}},
            f"{WHERE}.metric.name",
        ),
        (
            {
                "method": "random",
                "parameters": {"a": {"value": 1}},
                "metric": {"name": "l", "goal": "max"},
            },
            f"{WHERE}.metric.goal",
        ),
        (
            {
                "method": "random",
                "parameters": {"a": {"value": 1}},
                "metric": {"name": "l", "mode": "max"},
            },
            f"{WHERE}.metric.mode",
        ),
        (
            {
                "method": "random",
                "parameters": {"a": {"value": 1}},
                "metric": {"name": "l", "target": "high"},
            },
            f"{WHERE}.metric.target",
        ),
        ({"method": "bayes", "parameters": {"a": {"min": 0.0, "max": 1.0}}}, f"{WHERE}.metric"),
        (
            {"method": "grid", "parameters": {"lr": {"min": 0.0, "max": 1.0}}},
            f"{WHERE}.parameters.lr.distribution",
        ),
        (
            {
                "method": "grid",
                "parameters": {"opt": {"parameters": {"lr": {"distribution": "normal"}}}},
            },
            f"{WHERE}.parameters.opt.parameters.lr.distribution",
        ),
        (
            {
                "method": "grid",
                "parameters": {"a": {"values": [1, 2], "probabilities": [0.5, 0.5]}},
            },
            f"{WHERE}.parameters.a.probabilities",
        ),
    ],
)
def test_bad_sweep_names_its_key(raw: dict[str, Any], path: str) -> None:
    message = error_for(raw)
    assert message.startswith(f"{path}: "), message


HB = f"{WHERE}.early_terminate"


@pytest.mark.parametrize(
    ("block", "path"),
    [
        ({"type": "envelope", "min_iter": 3}, f"{HB}.type"),
        ({"min_iter": 3}, f"{HB}.type"),
        ({"type": "hyperband"}, HB),
        ({"type": "hyperband", "max_iter": 27}, f"{HB}.s"),
        ({"type": "hyperband", "max_iter": 27, "s": 0}, f"{HB}.s"),
        ({"type": "hyperband", "max_iter": 2, "s": 1}, f"{HB}.max_iter"),
        ({"type": "hyperband", "min_iter": 0}, f"{HB}.min_iter"),
        ({"type": "hyperband", "min_iter": 1.5}, f"{HB}.min_iter"),
        ({"type": "hyperband", "min_iter": 3, "eta": 1}, f"{HB}.eta"),
        ({"type": "hyperband", "min_iter": 3, "strict": "yes"}, f"{HB}.strict"),
        ({"type": "hyperband", "min_iter": 3, "patience": 2}, f"{HB}.patience"),
    ],
)
def test_bad_early_terminate_names_its_key(block: dict[str, Any], path: str) -> None:
    raw = {
        "method": "random",
        "metric": {"name": "loss"},
        "parameters": {"a": {"value": 1}},
        "early_terminate": block,
    }
    assert error_for(raw).startswith(f"{path}: ")


def test_hyperband_without_metric_names_metric() -> None:
    raw = {
        "method": "random",
        "parameters": {"a": {"value": 1}},
        "early_terminate": {"type": "hyperband", "min_iter": 3},
    }
    assert error_for(raw).startswith(f"{WHERE}.metric: ")


def test_message_is_one_sentence_with_a_fix() -> None:
    message = error_for(with_param({"min": "1e-4x", "max": 0.1}))
    assert message == (
        f"{LR}.min: expected a number but got the text '1e-4x'; write a number such as 0.001."
    )
    assert message.count("\n") == 0
