"""Linear centred kernel alignment (Kornblith et al. 2019), in its two equivalent forms.

For representations X (n x p) and Y (n x q) of the same n examples, column-centred::

    CKA(X, Y) = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)            (feature space)
              = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)),  K = X X^T   (Gram / HSIC form)

It is invariant to orthogonal transforms and isotropic scaling of either side, and not to an
arbitrary invertible linear map. The feature-space form costs O(n p q) and never builds an n x n
matrix, so it is the one the drift jobs use; the HSIC form is kept as the reference the tests
check it against.

With few examples the plug-in HSIC is biased upwards (two independent random representations of
width p >> n score far above 0); the debiased form replaces it with the unbiased estimator of
Song et al. (2012), as Kornblith et al.'s reference code does, so that independent features
score near 0. Debiased CKA can be slightly negative and is undefined below 4 examples.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

Matrix = NDArray[np.float64]


#: Below this share of its uncentred norm a centred representation counts as constant (no
#: variance across examples: CKA undefined), not as a signal made of rounding errors.
_CONSTANT_RTOL = 1e-9


def _centred(features: ArrayLike) -> Matrix:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"CKA needs a 2-d (examples x features) array, got shape {x.shape}.")
    centred = x - x.mean(axis=0, keepdims=True)
    if np.linalg.norm(centred) <= _CONSTANT_RTOL * np.linalg.norm(x):
        # The mean of n equal floats is not always that float: zero it, so CKA says "undefined".
        centred[:] = 0.0
    return centred


def _check_pair(x: Matrix, y: Matrix) -> None:
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA compares the same examples: {x.shape[0]} rows against {y.shape[0]}.")


def _debiased_dot(xty_sq: float, rows_x: Matrix, rows_y: Matrix, norm_x: float, norm_y: float,
                  n: int) -> float:
    """The unbiased HSIC estimator (Song et al. 2012) written in feature-space terms.

    ``rows_*`` are the squared row norms (the Gram diagonal), ``norm_*`` their sums (the traces).
    """
    return float(xty_sq - n / (n - 2.0) * rows_x.dot(rows_y) + norm_x * norm_y / ((n - 1) * (n - 2)))


def linear_cka(x: ArrayLike, y: ArrayLike, *, debiased: bool = False) -> float:
    """Linear CKA between two representations of the same examples (feature-space form)."""
    fx, fy = _centred(x), _centred(y)
    _check_pair(fx, fy)
    n = fx.shape[0]
    xty = float(np.linalg.norm(fy.T @ fx) ** 2)
    xtx = float(np.linalg.norm(fx.T @ fx))
    yty = float(np.linalg.norm(fy.T @ fy))
    if not debiased:
        denominator = xtx * yty
        return xty / denominator if denominator > 0 else float("nan")
    if n < 4:
        raise ValueError(f"Debiased CKA needs at least 4 examples, got {n}.")
    rows_x = np.einsum("ij,ij->i", fx, fx)
    rows_y = np.einsum("ij,ij->i", fy, fy)
    norm_x, norm_y = float(rows_x.sum()), float(rows_y.sum())
    numerator = _debiased_dot(xty, rows_x, rows_y, norm_x, norm_y, n)
    self_x = _debiased_dot(xtx**2, rows_x, rows_x, norm_x, norm_x, n)
    self_y = _debiased_dot(yty**2, rows_y, rows_y, norm_y, norm_y, n)
    denominator = np.sqrt(self_x * self_y) if self_x > 0 and self_y > 0 else 0.0
    return numerator / denominator if denominator > 0 else float("nan")


def gram_linear(x: ArrayLike) -> Matrix:
    """The linear kernel's Gram matrix X X^T."""
    features = np.asarray(x, dtype=np.float64)
    return features @ features.T


def _centre_gram(gram: Matrix, *, unbiased: bool) -> Matrix:
    n = gram.shape[0]
    if not unbiased:
        h = np.eye(n) - np.full((n, n), 1.0 / n)
        return h @ gram @ h
    # The U-centring of Szekely & Rizzo (2014): tr(U(K) U(L)) / (n (n - 3)) is unbiased HSIC.
    g = gram.copy()
    np.fill_diagonal(g, 0.0)
    means = g.sum(axis=0) / (n - 2)
    means -= means.sum() / (2 * (n - 1))
    g -= means[:, None]
    g -= means[None, :]
    np.fill_diagonal(g, 0.0)
    return g


def hsic_cka(x: ArrayLike, y: ArrayLike, *, debiased: bool = False) -> float:
    """Linear CKA through HSIC of the Gram matrices: the textbook form, O(n^2) memory."""
    k, l_ = gram_linear(x), gram_linear(y)
    if k.shape != l_.shape:
        raise ValueError(f"CKA compares the same examples: {k.shape[0]} rows against {l_.shape[0]}.")
    if debiased and k.shape[0] < 4:
        raise ValueError(f"Debiased CKA needs at least 4 examples, got {k.shape[0]}.")
    kc, lc = _centre_gram(k, unbiased=debiased), _centre_gram(l_, unbiased=debiased)
    # The 1/(n-1)^2 (or 1/(n(n-3))) normalisation of HSIC cancels in the ratio.
    hsic_kl, hsic_kk, hsic_ll = (float(np.sum(a * b)) for a, b in ((kc, lc), (kc, kc), (lc, lc)))
    denominator = np.sqrt(hsic_kk * hsic_ll) if hsic_kk > 0 and hsic_ll > 0 else 0.0
    return hsic_kl / denominator if denominator > 0 else float("nan")
