"""The drift of one tuned model from its base: CKA per layer, and per weight matrix the relative
change, the effective rank of the update and the intruder dimensions."""

from __future__ import annotations

import functools
import math
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sweepfirst.drift.cka import linear_cka
from sweepfirst.drift.representations import Representations
from sweepfirst.drift.weights import left_singular_vectors, matrix_drift
from sweepfirst.errors import ModelError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

#: BERT-style parameter names (BERT, RoBERTa, MiniLM, ELECTRA) -> the matrix type they are.
MATRIX_TYPES: dict[str, str] = {
    "attention.self.query": "query",
    "attention.self.key": "key",
    "attention.self.value": "value",
    "attention.output.dense": "attention_output",
    "intermediate.dense": "ffn_in",
    "output.dense": "ffn_out",
}
_LAYER_WEIGHT = re.compile(r"^(?:.*\.)?layer\.(\d+)\.(.+)\.weight$")


@dataclass(frozen=True)
class LayerSimilarity:
    """Linear CKA between base and tuned representations of one hidden state."""

    #: 0 is the embedding output, i the output of transformer layer i.
    layer: int
    name: str
    #: None where CKA is undefined: a representation with no variance across the examples (the
    #: [CLS] vector of the embedding layer is the same for every example).
    cka_mean: float | None
    cka_mean_debiased: float | None
    cka_cls: float | None
    cka_cls_debiased: float | None


@dataclass(frozen=True)
class MatrixChange:
    """How one weight matrix changed (see ``weights.MatrixDrift``)."""

    layer: int
    matrix: str
    relative_change: float
    effective_rank: float
    intruders: int
    max_cosines: tuple[float, ...]


def layer_name(layer: int) -> str:
    return "embeddings" if layer == 0 else f"layer {layer}"


def _defined(value: float) -> float | None:
    # NaN is not JSON (PostgreSQL's JSON type refuses it); "undefined" is None.
    return value if math.isfinite(value) else None


def representation_similarity(base: Representations, tuned: Representations) -> list[LayerSimilarity]:
    if base.mean.shape != tuned.mean.shape or not (base.idx == tuned.idx).all():
        raise ValueError("Base and tuned representations must be of the same examples and layers.")
    return [
        LayerSimilarity(
            layer=i, name=layer_name(i),
            cka_mean=_defined(linear_cka(base.mean[i], tuned.mean[i])),
            cka_mean_debiased=_defined(linear_cka(base.mean[i], tuned.mean[i], debiased=True)),
            cka_cls=_defined(linear_cka(base.cls[i], tuned.cls[i])),
            cka_cls_debiased=_defined(linear_cka(base.cls[i], tuned.cls[i], debiased=True)),
        )
        for i in range(base.layers)
    ]


def encoder_matrices(model: PreTrainedModel) -> dict[tuple[int, str], torch.Tensor]:
    """(layer, matrix type) -> weight, for the encoder of ``model`` (a task head is ignored)."""
    found = {}
    for name, weight in model.base_model.state_dict().items():
        match = _LAYER_WEIGHT.match(name)
        if match and match.group(2) in MATRIX_TYPES:
            # 1-based like the hidden states: layer i's output is hidden state i.
            found[(int(match.group(1)) + 1, MATRIX_TYPES[match.group(2)])] = weight
    if not found:
        raise ModelError(f"{type(model).__name__} has no BERT-style encoder layers "
                         "(layer.N.attention.self.query ...); drift analysis knows only those.")
    return found


#: The base model's left singular vectors, per (base key, layer, matrix): a worker process serves
#: every drift job of a run, and they all compare against the same base.
_BASE_VECTORS: dict[tuple[str, int, str], torch.Tensor] = {}
_BASE_VECTORS_LIMIT = 512


def weight_changes(base: PreTrainedModel, tuned: PreTrainedModel, *, top_k: int,
                   threshold: float, base_key: str | None = None) -> list[MatrixChange]:
    """Every encoder matrix's change; ``base_key`` (the base weights' hash) lets the base
    model's decompositions be reused by later calls in this process."""
    import torch

    base_matrices, tuned_matrices = encoder_matrices(base), encoder_matrices(tuned)
    missing = sorted(set(base_matrices) - set(tuned_matrices))
    if missing:
        raise ModelError(f"The tuned model lacks the base model's matrices {missing[:3]}; it was "
                         "not trained from this base model.")
    if len(_BASE_VECTORS) > _BASE_VECTORS_LIMIT:
        _BASE_VECTORS.clear()

    def vectors(layer: int, matrix: str, w0: torch.Tensor) -> torch.Tensor:
        if base_key is None:
            return left_singular_vectors(w0, torch.float32)
        key = (base_key, layer, matrix)
        if key not in _BASE_VECTORS:
            _BASE_VECTORS[key] = left_singular_vectors(w0, torch.float32)
        return _BASE_VECTORS[key]

    changes = []
    for (layer, matrix), w0 in sorted(base_matrices.items()):
        drift = matrix_drift(tuned_matrices[(layer, matrix)], w0, top_k=top_k, threshold=threshold,
                             base_vectors=functools.partial(vectors, layer, matrix, w0),
                             dtype=torch.float32)
        changes.append(MatrixChange(layer=layer, matrix=matrix, **asdict(drift)))
    return changes


def as_records(items: list[LayerSimilarity] | list[MatrixChange]) -> list[dict[str, Any]]:
    return [asdict(item) for item in items]
