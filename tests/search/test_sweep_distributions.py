"""Every W&B distribution samples within its bounds, with W&B's maths (many draws each)."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pytest

from sweepfirst.search import Distribution, parse_sweep_config
from sweepfirst.search.random_search import draw

N = 4000


def samples(spec: dict[str, Any], n: int = N) -> list[Any]:
    config = parse_sweep_config({"method": "random", "parameters": {"p": spec}}, where="sweep")
    return [draw(config.parameters, 7, k)["p"] for k in range(n)]


def is_multiple(x: float, q: float) -> bool:
    return math.isclose(x / q, round(x / q), abs_tol=1e-9)


def test_every_distribution_is_covered() -> None:
    covered = {
        "constant",
        "categorical",
        "int_uniform",
        "uniform",
        "q_uniform",
        "log_uniform",
        "log_uniform_values",
        "q_log_uniform",
        "q_log_uniform_values",
        "inv_log_uniform",
        "inv_log_uniform_values",
        "normal",
        "q_normal",
        "log_normal",
        "q_log_normal",
        "beta",
        "q_beta",
    }
    assert covered == {d.value for d in Distribution}


def test_constant() -> None:
    assert set(samples({"distribution": "constant", "value": "adamw"}, 50)) == {"adamw"}


def test_categorical_is_uniform_over_values() -> None:
    counts = Counter(samples({"values": ["a", "b", "c", "d"]}))
    assert set(counts) == {"a", "b", "c", "d"}
    assert all(abs(c / N - 0.25) < 0.04 for c in counts.values())


def test_categorical_follows_probabilities() -> None:
    counts = Counter(samples({"values": [1, 2, 3, 4], "probabilities": [0.1, 0.0, 0.3, 0.6]}))
    assert counts[2] == 0
    for value, p in ((1, 0.1), (3, 0.3), (4, 0.6)):
        assert abs(counts[value] / N - p) < 0.03


def test_categorical_values_can_be_lists() -> None:
    assert {tuple(v) for v in samples({"values": [[8, 8], [16]]}, 100)} == {(8, 8), (16,)}


def test_int_uniform_gives_every_int_in_range() -> None:
    values = samples({"min": 2, "max": 5})
    assert all(type(v) is int for v in values)
    assert set(values) == {2, 3, 4, 5}


def test_uniform() -> None:
    values = samples({"min": -1.0, "max": 3.0})
    assert all(isinstance(v, float) and -1.0 <= v <= 3.0 for v in values)
    assert abs(np.mean(values) - 1.0) < 0.1


def test_q_uniform_float_q() -> None:
    values = samples({"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.25})
    assert all(0.0 <= v <= 1.0 and is_multiple(v, 0.25) for v in values)
    assert set(values) == {0.0, 0.25, 0.5, 0.75, 1.0}


def test_q_uniform_int_q_gives_ints() -> None:
    values = samples({"distribution": "q_uniform", "min": 0, "max": 256, "q": 32})
    assert all(type(v) is int and v % 32 == 0 and 0 <= v <= 256 for v in values)


def test_q_uniform_float_values_are_clean_decimals() -> None:
    values = samples({"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.1}, 500)
    assert set(values) <= {round(0.1 * k, 10) for k in range(11)}


def test_log_uniform_takes_natural_log_bounds() -> None:
    values = samples({"distribution": "log_uniform", "min": -5.0, "max": 0.0})
    assert all(math.exp(-5.0) <= v <= 1.0 for v in values)
    logs = np.log(values)
    assert abs(logs.mean() - (-2.5)) < 0.1  # uniform in log space


def test_log_uniform_values_takes_value_bounds() -> None:
    values = samples({"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-2})
    assert all(1e-5 <= v <= 1e-2 for v in values)
    logs = np.log10(values)
    assert abs(logs.mean() - (-3.5)) < 0.1
    assert abs(np.mean(logs < -4.0) - 1 / 3) < 0.03


def test_q_log_uniform() -> None:
    values = samples({"distribution": "q_log_uniform", "min": 0.0, "max": math.log(100), "q": 1})
    assert all(type(v) is int and 1 <= v <= 100 for v in values)


def test_q_log_uniform_values() -> None:
    values = samples({"distribution": "q_log_uniform_values", "min": 10.0, "max": 1000.0, "q": 5})
    assert all(type(v) is int and v % 5 == 0 and 10 <= v <= 1000 for v in values)


def test_inv_log_uniform_is_exp_of_minus_uniform() -> None:
    values = samples({"distribution": "inv_log_uniform", "min": 0.0, "max": 5.0})
    assert all(math.exp(-5.0) <= v <= 1.0 for v in values)
    assert abs(np.mean(-np.log(values)) - 2.5) < 0.1  # log(1/X) uniform on [min, max]


def test_inv_log_uniform_values_stays_within_min_max() -> None:
    values = samples({"distribution": "inv_log_uniform_values", "min": 1e-3, "max": 1e-1})
    assert all(1e-3 <= v <= 1e-1 for v in values)
    # log(1/X) is uniform on [log(1/max), log(1/min)]
    assert abs(np.mean(np.log(1 / np.array(values))) - (math.log(10) + math.log(1000)) / 2) < 0.1


def test_normal() -> None:
    values = samples({"distribution": "normal", "mu": 5.0, "sigma": 2.0})
    assert abs(np.mean(values) - 5.0) < 0.15
    assert abs(np.std(values) - 2.0) < 0.15
    assert all(math.isfinite(v) for v in values)


def test_q_normal() -> None:
    values = samples({"distribution": "q_normal", "mu": 0.0, "sigma": 3.0, "q": 0.5})
    assert all(is_multiple(v, 0.5) for v in values)
    int_values = samples({"distribution": "q_normal", "mu": 10, "sigma": 3, "q": 2}, 200)
    assert all(type(v) is int and v % 2 == 0 for v in int_values)


def test_log_normal() -> None:
    values = samples({"distribution": "log_normal", "mu": 1.0, "sigma": 0.5})
    assert all(v > 0 for v in values)
    assert abs(np.median(values) - math.e) < 0.15
    assert abs(np.std(np.log(values)) - 0.5) < 0.05


def test_q_log_normal() -> None:
    values = samples({"distribution": "q_log_normal", "mu": 3.0, "sigma": 0.5, "q": 1})
    assert all(type(v) is int and v >= 0 for v in values)


def test_beta() -> None:
    values = samples({"distribution": "beta", "a": 2.0, "b": 5.0})
    assert all(0.0 <= v <= 1.0 for v in values)
    assert abs(np.mean(values) - 2 / 7) < 0.02


def test_q_beta() -> None:
    values = samples({"distribution": "q_beta", "a": 1.0, "b": 1.0, "q": 0.1})
    assert all(0.0 <= v <= 1.0 and is_multiple(v, 0.1) for v in values)


@pytest.mark.parametrize(
    "spec",
    [
        {"distribution": "normal", "mu": 0.0, "sigma": 1.0},
        {"distribution": "log_normal"},
        {"distribution": "beta", "a": 0.5, "b": 0.5},
    ],
)
def test_ppf_and_cdf_are_inverse(spec: dict[str, Any]) -> None:
    config = parse_sweep_config({"method": "random", "parameters": {"p": spec}}, where="sweep")
    param = config.parameters[0]
    for u in (1e-6, 0.1, 0.5, 0.9, 1 - 1e-6):
        assert math.isclose(param.cdf(param.ppf(u)), u, rel_tol=1e-6, abs_tol=1e-9)
