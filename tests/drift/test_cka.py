"""The mathematics of linear CKA (Kornblith et al. 2019), checked against its defining properties."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from sweepfirst.drift.cka import hsic_cka, linear_cka


@pytest.fixture
def features() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(60, 20))


def test_cka_of_a_representation_with_itself_is_one(features: np.ndarray) -> None:
    assert linear_cka(features, features) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(features, features, debiased=True) == pytest.approx(1.0, abs=1e-12)


def test_invariant_to_orthogonal_rotation_and_isotropic_scaling(features: np.ndarray) -> None:
    other = features @ np.random.default_rng(1).normal(size=(20, 20)) + 0.3 * np.random.default_rng(2).normal(size=(60, 20))
    rotation = ortho_group.rvs(20, random_state=3)
    reference = linear_cka(features, other)
    assert 0.05 < reference < 0.95  # a pair that is neither identical nor unrelated
    assert linear_cka(features @ rotation, other) == pytest.approx(reference, abs=1e-12)
    assert linear_cka(7.5 * features, other) == pytest.approx(reference, abs=1e-12)
    assert linear_cka(features, other, debiased=True) == pytest.approx(
        linear_cka(0.01 * features @ rotation, other, debiased=True), abs=1e-12)


def test_not_invariant_to_an_arbitrary_invertible_map(features: np.ndarray) -> None:
    # A badly conditioned invertible map: stretches one direction a thousandfold.
    stretch = np.eye(20)
    stretch[0, 0] = 1000.0
    mixing = ortho_group.rvs(20, random_state=4) @ stretch
    assert abs(np.linalg.det(mixing)) > 0
    assert linear_cka(features, features @ mixing) < 0.5


def test_feature_space_and_hsic_forms_agree(features: np.ndarray) -> None:
    rng = np.random.default_rng(5)
    for n, p, q in ((60, 20, 20), (30, 50, 7), (200, 5, 40)):
        x, y = rng.normal(size=(n, p)), rng.normal(size=(n, q)) + rng.normal() * 0
        y[:, 0] += x[:, 0]  # some shared signal
        for debiased in (False, True):
            assert abs(linear_cka(x, y, debiased=debiased) - hsic_cka(x, y, debiased=debiased)) < 1e-10


def test_debiased_cka_of_independent_features_is_near_zero_where_biased_is_not() -> None:
    rng = np.random.default_rng(6)
    # Few examples, many features: the regime a 256-example sample of a 384-wide encoder is in.
    biased, debiased = [], []
    for _ in range(10):
        x, y = rng.normal(size=(40, 400)), rng.normal(size=(40, 400))
        biased.append(linear_cka(x, y))
        debiased.append(linear_cka(x, y, debiased=True))
    assert min(biased) > 0.4
    assert abs(float(np.mean(debiased))) < 0.02 and max(abs(d) for d in debiased) < 0.06


def test_mismatched_examples_are_refused() -> None:
    with pytest.raises(ValueError, match="same examples"):
        linear_cka(np.zeros((5, 2)), np.zeros((6, 2)))
