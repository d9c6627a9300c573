"""Per-layer representations of a fixed sample of a task's dev examples: the token-mean (over
real tokens, padding excluded) and the first ([CLS]) vector of every hidden state, the embedding
output included.

The sample is the same for the base model and every tuned one (``dev_sample``), so CKA compares
the same examples. The base model's representations are computed once per (model hash, data
fingerprint, sample) and cached as ``.npz`` under the artifact store, written atomically.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from sweepfirst.files import write_atomic

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

#: Bump when what is stored changes, so old cache entries are not read as new ones.
FORMAT_VERSION = 1
#: The dev sample is drawn with this seed, the same for every run.
SAMPLE_SEED = 0
_BATCH_SIZE = 32


@dataclass(frozen=True)
class Representations:
    """``mean`` and ``cls``: (hidden states, examples, width) arrays; ``idx``: the dev rows."""

    mean: NDArray[np.float32]
    cls: NDArray[np.float32]
    idx: NDArray[np.int64]

    @property
    def layers(self) -> int:
        return int(self.mean.shape[0])

    def save(self, path: Path) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, mean=self.mean, cls=self.cls, idx=self.idx)
        write_atomic(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> Representations:
        with np.load(path) as stored:
            return cls(mean=stored["mean"], cls=stored["cls"], idx=stored["idx"])


@dataclass(frozen=True)
class DevSample:
    rows: Dataset
    data_fingerprint: str


def dev_sample(task_name: str, data_dir: Path | None, examples: int) -> DevSample:
    """``examples`` dev rows drawn with a fixed seed (all of dev when it is smaller), in row order."""
    from sweepfirst.tasks import get_task
    from sweepfirst.training.data import load_raw_splits

    raw = load_raw_splits(get_task(task_name), data_dir)
    n = min(examples, len(raw.dev))
    chosen = np.sort(np.random.default_rng(SAMPLE_SEED).permutation(len(raw.dev))[:n])
    return DevSample(raw.dev.select(chosen.tolist(), keep_in_memory=True), raw.fingerprint)


def cache_key(*, model_hash: str, data_fingerprint: str, task: str, examples: int,
              max_seq_length: int) -> str:
    fields = {"model": model_hash, "data": data_fingerprint, "task": task, "examples": examples,
              "max_seq_length": max_seq_length, "seed": SAMPLE_SEED, "version": FORMAT_VERSION}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / "representations" / f"{key}.npz"


def extract(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, rows: Dataset,
            max_seq_length: int) -> Representations:
    """Every hidden state's token-mean and [CLS] vector for ``rows`` (batched, no grad)."""
    import torch

    text_columns = [c for c in ("text_a", "text_b") if c in rows.column_names]
    texts = [np.asarray(rows[c][:], dtype=object) for c in text_columns]
    lengths = tokenizer(*[t.tolist() for t in texts], truncation=True, max_length=max_seq_length,
                        return_length=True)["length"]
    # Longest first, so each batch pads to a similar length; the rows are put back in order below.
    order = np.argsort(-np.asarray(lengths), kind="stable")
    means: list[torch.Tensor] = []
    firsts: list[torch.Tensor] = []
    device = next(model.parameters()).device
    with torch.inference_mode():
        for start in range(0, len(rows), _BATCH_SIZE):
            chosen = order[start:start + _BATCH_SIZE]
            batch = tokenizer(*[t[chosen].tolist() for t in texts], truncation=True,
                              max_length=max_seq_length, padding=True, return_tensors="pt").to(device)
            hidden = torch.stack(model(**batch, output_hidden_states=True).hidden_states)
            mask = batch["attention_mask"].to(hidden.dtype)[None, :, :, None]
            means.append(((hidden * mask).sum(dim=2) / mask.sum(dim=2)).float().cpu())
            firsts.append(hidden[:, :, 0, :].float().cpu())
    inverse = np.argsort(order)
    return Representations(mean=torch.cat(means, dim=1).numpy()[:, inverse],
                           cls=torch.cat(firsts, dim=1).numpy()[:, inverse],
                           idx=np.asarray(rows["idx"][:], dtype=np.int64))
