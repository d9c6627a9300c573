"""Tokenizing a job's splits, cached on disk so trial two of a sweep does not tokenize again.

Examples are truncated to ``max_seq_length`` but *not* padded: the data collator pads each batch
to its own longest example, and a ``length`` column lets the sampler put examples of similar
length in the same batch, so little compute is spent on padding.

The cache entry's key is everything that decides its content: task, data content, tokenizer
(hash of its full definition, not only its name), max_seq_length and the split recipe. An entry
is written to a temporary folder and renamed into place, so concurrent workers never see a
half-written one; if two workers race, one rename wins and the other's copy is discarded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepfirst.training.data import TEXT_COLUMNS
from sweepfirst.training.splits import JobSplits

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict
    from transformers import PreTrainedTokenizerBase

    from sweepfirst.tasks import TaskSpec

logger = logging.getLogger(__name__)

#: The per-example token count column that length-grouped sampling reads.
LENGTH_COLUMN = "length"
#: Bump when the tokenized content changes shape, so old cache entries are not reused.
CACHE_FORMAT_VERSION = 1


def tokenizer_identity(tokenizer: PreTrainedTokenizerBase) -> str:
    """A hash of what the tokenizer does, so two folders with the same tokenizer share a cache."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        definition = backend.to_str()
    else:  # a slow (pure Python) tokenizer: fall back to what identifies it
        definition = json.dumps(
            [type(tokenizer).__name__, tokenizer.name_or_path, len(tokenizer)], sort_keys=True
        )
    return hashlib.sha256(f"{type(tokenizer).__name__}:{definition}".encode()).hexdigest()[:16]


def cache_key(
    task: TaskSpec,
    data_fingerprint: str,
    tokenizer: PreTrainedTokenizerBase,
    max_seq_length: int,
    recipe: dict[str, Any],
) -> str:
    """The name of the cache entry for this combination."""
    parts = {
        "format": CACHE_FORMAT_VERSION,
        "task": task.name,
        "data": data_fingerprint,
        "tokenizer": tokenizer_identity(tokenizer),
        "max_seq_length": max_seq_length,
        "split": recipe,
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]
    return f"{task.name}-{digest}"


def tokenize_splits(
    splits: JobSplits,
    tokenizer: PreTrainedTokenizerBase,
    max_seq_length: int,
    cache_dir: Path | None = None,
    key: str | None = None,
) -> tuple[Dataset, Dataset]:
    """Tokenize the train and eval parts of a job, reusing ``cache_dir/tokenized/<key>`` if present.

    Returns ``(train, eval)`` with the columns ``idx``, ``label``, ``length`` and the tokenizer's
    model inputs (``input_ids``, ``attention_mask``, ...).
    """
    from datasets import DatasetDict

    def build() -> DatasetDict:
        return DatasetDict(
            train=tokenize(splits.train, tokenizer, max_seq_length),
            eval=tokenize(splits.eval, tokenizer, max_seq_length),
        )

    tokenized = cached_datasets(cache_dir, key, build)
    return tokenized["train"], tokenized["eval"]


def cached_datasets(
    cache_dir: Path | None, key: str | None, build: Callable[[], DatasetDict]
) -> DatasetDict:
    """``cache_dir/tokenized/<key>`` if it is there, else ``build()``, published there atomically.

    Any pipeline's tokenized splits go through here (GLUE's and SQuAD's windows alike), so they
    share the cache's layout and its safety under concurrent workers. Without a ``cache_dir`` (or
    ``key``) this is just ``build()``.
    """
    from datasets import load_from_disk

    entry = Path(cache_dir) / "tokenized" / key if cache_dir is not None and key else None
    if entry is not None and entry.is_dir():
        logger.info("Reusing tokenized data from %s", entry)
        return load_from_disk(str(entry))
    built = build()
    if entry is None:
        return built
    _publish(built, entry)
    # Read back the published copy: memory-mapped, so it costs no RAM per worker.
    return load_from_disk(str(entry))


def tokenize(ds: Dataset, tokenizer: PreTrainedTokenizerBase, max_seq_length: int) -> Dataset:
    """Tokenize one split (truncate, do not pad) and add the per-example ``length`` column."""
    text_columns = [name for name in TEXT_COLUMNS if name in ds.column_names]

    def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
        texts = [batch[name] for name in text_columns]
        encoded = tokenizer(*texts, truncation=True, max_length=max_seq_length)
        encoded[LENGTH_COLUMN] = [len(ids) for ids in encoded["input_ids"]]
        return dict(encoded)

    return ds.map(
        encode,
        batched=True,
        remove_columns=text_columns,
        keep_in_memory=True,
        desc=None,
    )


def _publish(tokenized: Any, entry: Path) -> None:
    """Write ``tokenized`` to ``entry`` atomically (temporary folder, then one rename)."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = entry.parent / f".{entry.name}.{uuid.uuid4().hex}.tmp"
    try:
        tokenized.save_to_disk(str(staging))
        try:
            os.rename(staging, entry)
        except OSError:
            # Another worker published the same entry first; theirs is identical, keep it.
            if not entry.is_dir():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
