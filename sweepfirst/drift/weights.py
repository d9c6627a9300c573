"""How fine-tuning changed one weight matrix: relative change, effective rank of the update, and
intruder dimensions (Shuttleworth et al. 2024, "LoRA vs Full Fine-tuning: An Illusion of
Equivalence").

An *intruder dimension* is one of the top-k singular vectors of the fine-tuned matrix W whose
cosine similarity with every singular vector of the pretrained matrix W0 stays below a threshold:
a new direction, not a rotated old one. We compare left singular vectors (the output space of an
``nn.Linear`` weight of shape out x in), over all of W0's singular vectors (the thin SVD: for the
square attention matrices that is a complete basis). Defaults are the paper's: the top k = 10
singular vectors, threshold 0.5.

Everything is one batched torch call per matrix (no Python loop over vectors). An untouched
matrix (a frozen layer) is recognised as such and gives a change of exactly 0 and cosines of
exactly 1 without an SVD; the decompositions run in float64 by default, and in float32 where the
drift jobs ask for it (a fine-tuned MiniLM's 36 matrices: ~4x faster, cosines to ~1e-6).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

#: The paper's defaults: the top-k fine-tuned singular vectors examined, and the cosine below
#: which one counts as an intruder.
DEFAULT_INTRUDER_TOP_K = 10
DEFAULT_INTRUDER_THRESHOLD = 0.5
_GRAM_RTOL = 1e-7


@dataclass(frozen=True)
class MatrixDrift:
    """The change of one weight matrix."""

    #: ||W - W0||_F / ||W0||_F.
    relative_change: float
    #: exp(entropy of the normalised singular values of W - W0) (Roy & Vetterli 2007); 0 when
    #: W == W0.
    effective_rank: float
    #: How many of W's top-k left singular vectors have max |cos| < threshold with all of W0's.
    intruders: int
    #: For each of W's top-k singular vectors, its largest |cos| with any of W0's.
    max_cosines: tuple[float, ...]


def _as_float64(matrix: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return matrix.detach().to(dtype=dtype, device="cpu")


def relative_change(w: torch.Tensor, w0: torch.Tensor) -> float:
    w, w0 = _as_float64(w), _as_float64(w0)
    base = torch.linalg.matrix_norm(w0)
    return float(torch.linalg.matrix_norm(w - w0) / base) if base > 0 else float("nan")


def singular_values(matrix: torch.Tensor) -> torch.Tensor:
    """The singular values, from the eigenvalues of the smaller Gram matrix (float64): several
    times cheaper than an SVD when the vectors are not needed."""
    m = _as_float64(matrix)
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    sigma = torch.linalg.eigvalsh(gram).clamp(min=0).sqrt().flip(0)
    # Through the Gram matrix, values below ~sqrt(eps) of the largest are rounding noise (an SVD
    # would give ~1e-16 there): count them as the zeros they are.
    return torch.where(sigma > sigma[0] * _GRAM_RTOL, sigma, torch.zeros_like(sigma)) if sigma.numel() else sigma


def effective_rank(matrix: torch.Tensor) -> float:
    """Entropy effective rank exp(H(p)), p = sigma / sum(sigma); 0 for the zero matrix."""
    sigma = singular_values(matrix)
    total = sigma.sum()
    if total <= 0:
        return 0.0
    p = sigma / total
    p = p[p > 0]
    return float(torch.exp(-(p * torch.log(p)).sum()))


def intruder_cosines(w: torch.Tensor, w0: torch.Tensor, *, top_k: int = DEFAULT_INTRUDER_TOP_K,
                     base_vectors: torch.Tensor | None = None,
                     dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """max_i |cos(u_j(W), u_i(W0))| for each of W's top-k left singular vectors u_j.

    ``base_vectors``: W0's left singular vectors, when the caller has them already (a drift job
    compares several tuned models against one base).
    """
    u_tuned = torch.linalg.svd(_as_float64(w, dtype), full_matrices=False).U[:, :top_k]
    u_base = base_vectors.to(dtype) if base_vectors is not None else left_singular_vectors(w0, dtype)
    # Singular vectors are unit length, so the dot products are the cosines.
    return (u_tuned.T @ u_base).abs().amax(dim=1)


def left_singular_vectors(w0: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.linalg.svd(_as_float64(w0, dtype), full_matrices=False).U


def count_intruders(w: torch.Tensor, w0: torch.Tensor, *, top_k: int = DEFAULT_INTRUDER_TOP_K,
                    threshold: float = DEFAULT_INTRUDER_THRESHOLD) -> int:
    return int((intruder_cosines(w, w0, top_k=top_k) < threshold).sum())


def matrix_drift(w: torch.Tensor, w0: torch.Tensor, *, top_k: int = DEFAULT_INTRUDER_TOP_K,
                 threshold: float = DEFAULT_INTRUDER_THRESHOLD,
                 base_vectors: torch.Tensor | None | Callable[[], torch.Tensor] = None,
                 dtype: torch.dtype = torch.float64) -> MatrixDrift:
    """Everything above for one matrix and its pretrained original.

    ``base_vectors`` may be a function that returns them: it is called only when needed.
    """
    if w.shape != w0.shape:
        raise ValueError(f"A tuned matrix of shape {tuple(w.shape)} cannot be compared with a "
                         f"pretrained one of shape {tuple(w0.shape)}.")
    if torch.equal(w.detach().cpu(), w0.detach().cpu()):
        # Frozen (LoRA's untargeted matrices): nothing moved, so no decomposition is needed.
        return MatrixDrift(relative_change=0.0, effective_rank=0.0, intruders=0,
                           max_cosines=(1.0,) * min(top_k, *w.shape))
    vectors = base_vectors() if callable(base_vectors) else base_vectors
    cosines = intruder_cosines(w, w0, top_k=top_k, base_vectors=vectors, dtype=dtype)
    return MatrixDrift(
        relative_change=relative_change(w, w0),
        effective_rank=effective_rank(_as_float64(w) - _as_float64(w0)),
        intruders=int((cosines < threshold).sum()),
        max_cosines=tuple(float(c) for c in cosines),
    )
