"""parse_sweep_config on valid W&B sweep files: inference rules, defaults, nesting, unused keys."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from sweepfirst.search import Distribution, EarlyTerminate, Metric, parse_sweep_config
from sweepfirst.search.distributions import Param

WHERE = "methods.lora.sweep"


def only_param(spec: dict[str, Any], method: str = "random") -> Param:
    config = parse_sweep_config({"method": method, "parameters": {"p": spec}}, where=WHERE)
    assert len(config.parameters) == 1
    return config.parameters[0]


def test_a_real_w_and_b_yaml_is_accepted_unchanged() -> None:
    text = """
program: train.py
name: lora-sweep
description: LoRA on MRPC
entity: me
project: glue
method: bayes
metric:
  name: eval_loss
  goal: minimize
  target: 0.2
run_cap: 20
early_terminate:
  type: hyperband
  min_iter: 3
parameters:
  learning_rate:
    distribution: log_uniform_values
    min: 1.0e-5
    max: 1.0e-3
  batch_size:
    values: [16, 32]
  epochs:
    value: 3
  optimizer:
    parameters:
      weight_decay:
        min: 0.0
        max: 0.1
      warmup_steps:
        min: 0
        max: 100
command:
  - ${env}
  - python
  - ${program}
  - ${args}
"""
    config = parse_sweep_config(yaml.safe_load(text), where=WHERE)
    assert config.method == "bayes"
    assert config.metric == Metric(name="eval_loss", goal="minimize", target=0.2)
    assert config.run_cap == 20
    assert config.early_terminate == EarlyTerminate(min_iter=3, eta=3.0, strict=True)
    assert [p.path for p in config.parameters] == [
        ("batch_size",),
        ("epochs",),
        ("learning_rate",),
        ("optimizer", "warmup_steps"),
        ("optimizer", "weight_decay"),
    ]
    by_path = {p.path: p for p in config.parameters}
    assert by_path[("optimizer", "warmup_steps")].distribution is Distribution.INT_UNIFORM
    assert by_path[("optimizer", "weight_decay")].distribution is Distribution.UNIFORM
    assert config.unused_keys == (
        f"{WHERE}.program",
        f"{WHERE}.command",
        f"{WHERE}.entity",
        f"{WHERE}.project",
        f"{WHERE}.name",
        f"{WHERE}.description",
    )
    assert config.total_trials == 20


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"values": [1, 2]}, Distribution.CATEGORICAL),
        ({"values": ["a"], "probabilities": [1.0]}, Distribution.CATEGORICAL),
        ({"value": 3}, Distribution.CONSTANT),
        ({"min": 1, "max": 10}, Distribution.INT_UNIFORM),
        ({"min": 1.0, "max": 10.0}, Distribution.UNIFORM),
        ({"min": 1, "max": 10.0}, Distribution.UNIFORM),  # one float is enough for uniform
        ({"distribution": "uniform", "min": 1, "max": 10}, Distribution.UNIFORM),
        (
            {"distribution": "categorical_w_probabilities", "values": [1], "probabilities": [1]},
            Distribution.CATEGORICAL,
        ),
    ],
)
def test_w_and_b_inference_rules(spec: dict[str, Any], expected: Distribution) -> None:
    assert only_param(spec).distribution is expected


def test_w_and_b_defaults_are_filled() -> None:
    assert only_param({"distribution": "q_uniform", "min": 0, "max": 5}).q == 1.0
    normal = only_param({"distribution": "q_log_normal"})
    assert (normal.mu, normal.sigma, normal.q) == (0.0, 1.0, 1.0)
    beta = only_param({"distribution": "q_beta"})
    assert (beta.a, beta.b, beta.q) == (1.0, 1.0, 1.0)


def test_constant_and_categorical_values_are_kept_as_written() -> None:
    assert only_param({"value": [64, 64]}).value == [64, 64]
    categorical = only_param({"values": [[1, 2], {"r": 8}], "probabilities": [0.25, 0.75]})
    assert categorical.values == ([1, 2], {"r": 8})
    assert categorical.probabilities == (0.25, 0.75)


def test_nested_parameters_become_paths() -> None:
    config = parse_sweep_config(
        {
            "method": "grid",
            "parameters": {
                "optimizer": {
                    "parameters": {
                        "adam": {"parameters": {"beta1": {"values": [0.9, 0.95]}}},
                        "lr": {"value": 0.1},
                    }
                }
            },
        },
        where=WHERE,
    )
    assert [p.path for p in config.parameters] == [
        ("optimizer", "adam", "beta1"),
        ("optimizer", "lr"),
    ]


def test_trial_count_is_exposed_for_every_method() -> None:
    params = {"a": {"values": [1, 2, 3]}, "b": {"min": 0, "max": 3}, "c": {"value": 1}}
    grid = parse_sweep_config({"method": "grid", "parameters": params}, where=WHERE)
    assert grid.grid_size == 12 and grid.total_trials == 12
    capped = parse_sweep_config({"method": "grid", "parameters": params, "run_cap": 5}, where=WHERE)
    assert capped.total_trials == 5
    # Random over finite parameters ends when every configuration was tried.
    finite = parse_sweep_config({"method": "random", "parameters": params}, where=WHERE)
    assert finite.total_trials == 12
    continuous = {**params, "lr": {"min": 0.0, "max": 1.0}}
    endless = parse_sweep_config({"method": "random", "parameters": continuous}, where=WHERE)
    assert endless.grid_size is None and endless.total_trials is None
    metric = {"name": "loss"}
    capped_bayes = parse_sweep_config(
        {"method": "bayes", "metric": metric, "parameters": params, "run_cap": 7}, where=WHERE
    )
    assert capped_bayes.total_trials == 7


def test_hyperband_forms_and_w_and_b_precedence() -> None:
    def hyperband(block: dict[str, Any]) -> tuple[EarlyTerminate | None, tuple[str, ...]]:
        config = parse_sweep_config(
            {
                "method": "random",
                "metric": {"name": "loss", "goal": "maximize"},
                "parameters": {"a": {"values": [1]}},
                "early_terminate": {"type": "hyperband", **block},
            },
            where=WHERE,
        )
        return config.early_terminate, config.unused_keys

    assert hyperband({"max_iter": 27, "s": 2}) == (EarlyTerminate(max_iter=27, s=2), ())
    assert hyperband({"min_iter": 2, "eta": 2, "strict": False}) == (
        EarlyTerminate(min_iter=2, eta=2.0, strict=False),
        (),
    )
    # Both forms given: W&B uses max_iter and s; min_iter is reported as unused.
    assert hyperband({"min_iter": 1, "max_iter": 9, "s": 1}) == (
        EarlyTerminate(max_iter=9, s=1),
        (f"{WHERE}.early_terminate.min_iter",),
    )


def test_metric_extras_are_accepted() -> None:
    config = parse_sweep_config(
        {
            "method": "bayes",
            "metric": {
                "name": "acc",
                "goal": "maximize",
                "impute": "best",
                "impute_while_running": "false",
            },
            "parameters": {"a": {"min": 0.0, "max": 1.0}},
        },
        where="",
    )
    assert config.metric == Metric(name="acc", goal="maximize", impute="best")
    assert config.unused_keys == ("metric.impute_while_running",)
