"""Relative change, effective rank and intruder dimensions on matrices whose answer is known."""

from __future__ import annotations

import math

import pytest
import torch

from sweepfirst.drift.weights import (
    DEFAULT_INTRUDER_THRESHOLD,
    DEFAULT_INTRUDER_TOP_K,
    count_intruders,
    effective_rank,
    matrix_drift,
    relative_change,
)


def _pretrained(rows: int = 96, cols: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """W0 = U diag(s) V^T with well separated singular values 32, 31, ..., 1."""
    generator = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(rows, cols, generator=generator, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(cols, cols, generator=generator, dtype=torch.float64))
    s = torch.arange(cols, 0, -1, dtype=torch.float64)
    return u @ torch.diag(s) @ v.T, u, s, v


def test_the_paper_defaults() -> None:
    assert (DEFAULT_INTRUDER_TOP_K, DEFAULT_INTRUDER_THRESHOLD) == (10, 0.5)


def test_planted_intruder_is_exactly_one() -> None:
    w0, u, s, v = _pretrained()
    generator = torch.Generator().manual_seed(1)
    # A random direction orthogonal to every pretrained singular vector replaces the top one.
    r = torch.randn(w0.shape[0], generator=generator, dtype=torch.float64)
    r -= u @ (u.T @ r)
    r /= torch.linalg.vector_norm(r)
    w = w0 + s[0] * torch.outer(r - u[:, 0], v[:, 0])
    assert count_intruders(w, w0) == 1
    drift = matrix_drift(w, w0)
    assert drift.intruders == 1
    assert drift.max_cosines[0] == pytest.approx(0.0, abs=1e-10)
    assert min(drift.max_cosines[1:]) == pytest.approx(1.0, abs=1e-10)
    # The update is rank 2 (remove u1 v1^T, add r v1^T): ||W - W0|| = s1 * ||r - u1|| = s1 sqrt 2.
    assert drift.relative_change == pytest.approx(s[0].item() * math.sqrt(2) / torch.linalg.matrix_norm(w0).item())
    assert drift.effective_rank == pytest.approx(1.0, abs=1e-9)  # r - u1 is one direction


def test_small_random_perturbation_has_no_intruders() -> None:
    w0, *_ = _pretrained()
    generator = torch.Generator().manual_seed(2)
    w = w0 + 1e-3 * torch.randn(w0.shape, generator=generator, dtype=torch.float64)
    drift = matrix_drift(w, w0)
    assert drift.intruders == 0
    assert min(drift.max_cosines) > 0.99
    assert 0 < drift.relative_change < 1e-3


def test_an_untouched_matrix_has_zero_change_and_rank() -> None:
    w0, *_ = _pretrained(32, 32)
    drift = matrix_drift(w0.clone(), w0)
    assert drift.relative_change == 0.0 and drift.effective_rank == 0.0 and drift.intruders == 0


def test_effective_rank_counts_equal_directions() -> None:
    assert effective_rank(torch.diag(torch.tensor([2.0, 2.0, 2.0, 0.0]))) == pytest.approx(3.0)
    assert relative_change(torch.ones(2, 2) * 1.5, torch.ones(2, 2)) == pytest.approx(0.5)


def test_threshold_and_k_are_honoured() -> None:
    w0, u, s, v = _pretrained()
    w = w0 + 0.4 * s[0] * torch.outer(u[:, 5], v[:, 0])  # tilts the top vector toward u6
    cosines = matrix_drift(w, w0, top_k=3).max_cosines
    assert len(cosines) == 3
    assert count_intruders(w, w0, top_k=3, threshold=1.01) == 3
    assert count_intruders(w, w0, top_k=3, threshold=0.0) == 0
