"""SQuAD v2 questions to model rows (context windows), cached like GLUE's tokenized splits.

The windowing itself is ``qa.span_processing`` (the field's standard recipe); this module decides the
window settings of a job, guards the tokenizer against settings it cannot honour, and caches the
result under the same key scheme as ``tokenization`` (task, data, tokenizer, length, split recipe).

Window settings:

* ``max_seq_length``: the request's, but at least the task's ``min_seq_length`` (384 for SQuAD v2,
  the usual setting): one ``data.max_seq_length`` serves every task of a workflow, and GLUE-sized
  values (64, 128) leave too little room for a question and its context. Shorter windows would not
  even be cheaper: they overlap more, so a question costs more tokens (on SQuAD 2.0 dev, 255
  tokens per question at 128 against 184 at 384, with batches padded to their longest window).
* ``doc_stride``: the request's, else min(128, max_seq_length // 3): the usual 128, and less only
  for a model that takes fewer than 384 tokens (a stride must stay below the context room).
* questions are cut to their first :data:`MAX_QUERY_TOKENS` tokens (BERT's ``max_query_length``):
  the fast tokenizers abort the process when a question leaves the context less room than the
  stride. No SQuAD 2.0 dev question is that long (the longest has 38 MiniLM tokens).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sweepfirst.errors import SweepfirstError
from sweepfirst.training.qa.span_processing import prepare_eval_features, prepare_train_features
from sweepfirst.training.tokenization import LENGTH_COLUMN, cache_key, cached_datasets

if TYPE_CHECKING:
    from pathlib import Path

    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase

    from sweepfirst.tasks import TaskSpec
    from sweepfirst.training.qa.splits import QaSplits
    from sweepfirst.training.request import TrainingRequest
    from sweepfirst.training.splits import SplitRecipe

logger = logging.getLogger(__name__)

DEFAULT_DOC_STRIDE = 128
#: Longest question kept, in tokens (the original BERT SQuAD recipe's ``max_query_length``).
MAX_QUERY_TOKENS = 64
#: The model inputs that hold the gold span (the QA models' own argument names).
LABEL_COLUMNS = ["start_positions", "end_positions"]
#: Bookkeeping columns of eval rows that map logits back to answer text.
EVAL_BOOKKEEPING = ("example_id", "offset_mapping")
#: Bump when the rows' content changes shape, so old cache entries are not reused.
QA_FEATURES_VERSION = 1


@dataclass(frozen=True)
class WindowSettings:
    """How contexts are cut into model rows."""

    max_seq_length: int
    doc_stride: int
    max_query_tokens: int = MAX_QUERY_TOKENS


def window_settings(
    request: TrainingRequest, task: TaskSpec, tokenizer: PreTrainedTokenizerBase
) -> WindowSettings:
    """The window settings of a job (see the module docstring).

    Raises:
        SweepfirstError: ``doc_stride`` leaves no room for new context in a window.
    """
    length = max(request.max_seq_length, task.min_seq_length)
    if length != request.max_seq_length:
        logger.warning(
            "%s uses windows of at least %d tokens; max_seq_length %d raised to %d.",
            task.name,
            task.min_seq_length,
            request.max_seq_length,
            length,
        )
    # Huge sentinel values (1e30) mean "no limit" in some tokenizers.
    length = min(length, int(min(tokenizer.model_max_length, 1_000_000)))
    stride = (
        request.doc_stride
        if request.doc_stride is not None
        else min(DEFAULT_DOC_STRIDE, length // 3)
    )
    room = length - tokenizer.num_special_tokens_to_add(pair=True) - MAX_QUERY_TOKENS
    if stride >= room:
        raise SweepfirstError(
            f"doc_stride {stride} is too long for windows of {length} tokens (a question may take "
            f"{MAX_QUERY_TOKENS} of them); use a doc_stride below {max(room, 1)} or a longer "
            "max_seq_length."
        )
    return WindowSettings(max_seq_length=length, doc_stride=stride)


@dataclass(frozen=True)
class QaFeatures:
    """A job's model rows: train windows with gold spans; eval windows with gold spans (so the
    Trainer reports ``eval_loss``) and the bookkeeping that maps logits back to text."""

    train: Dataset
    eval: Dataset
    cache_key: str


def build_features(
    splits: QaSplits,
    recipe: SplitRecipe,
    task: TaskSpec,
    tokenizer: PreTrainedTokenizerBase,
    windows: WindowSettings,
    cache_dir: Path | None,
) -> QaFeatures:
    """Window the job's questions, reusing ``cache_dir/tokenized/<key>`` when it is there."""
    from datasets import DatasetDict

    split_key = splits.cache_key(recipe)
    split_key.update(
        doc_stride=windows.doc_stride,
        max_query_tokens=windows.max_query_tokens,
        qa_features_version=QA_FEATURES_VERSION,
    )
    key = cache_key(task, splits.data_fingerprint, tokenizer, windows.max_seq_length, split_key)

    def build() -> DatasetDict:
        return DatasetDict(
            train=_map(splits.train, _train_rows, tokenizer, windows),
            eval=_map(splits.eval, _eval_rows, tokenizer, windows),
        )

    rows = cached_datasets(cache_dir, key, build)
    return QaFeatures(train=rows["train"], eval=rows["eval"], cache_key=key)


def longest_first(rows: Dataset) -> Dataset:
    """``rows`` by decreasing length, ties in their given order: little padding per eval batch,
    and an out-of-memory error shows on the first batch."""
    order = np.lexsort((np.arange(len(rows)), -np.asarray(rows[LENGTH_COLUMN][:])))
    return rows.select(order.tolist(), keep_in_memory=True)


def clip_questions(
    questions: list[str], tokenizer: PreTrainedTokenizerBase, max_tokens: int
) -> list[str]:
    """Each question cut after its ``max_tokens``-th token (most are far shorter and unchanged)."""
    encoded = tokenizer(
        questions, add_special_tokens=False, return_offsets_mapping=True, truncation=False
    )
    clipped = []
    for question, offsets in zip(questions, encoded["offset_mapping"]):
        clipped.append(
            question[: offsets[max_tokens - 1][1]] if len(offsets) > max_tokens else question
        )
    return clipped


def _map(questions: Dataset, make_rows: Any, tokenizer: Any, windows: WindowSettings) -> Dataset:
    return questions.map(
        make_rows,
        batched=True,
        remove_columns=questions.column_names,
        fn_kwargs={"tokenizer": tokenizer, "windows": windows},
        keep_in_memory=True,
        desc=None,
    )


def _clipped(
    batch: dict[str, list[Any]], tokenizer: Any, windows: WindowSettings
) -> dict[str, Any]:
    return {
        **batch,
        "question": clip_questions(list(batch["question"]), tokenizer, windows.max_query_tokens),
    }


def _train_rows(
    batch: dict[str, list[Any]], tokenizer: Any, windows: WindowSettings
) -> dict[str, Any]:
    rows = prepare_train_features(
        _clipped(batch, tokenizer, windows), tokenizer, windows.max_seq_length, windows.doc_stride
    )
    rows[LENGTH_COLUMN] = [len(ids) for ids in rows["input_ids"]]
    return rows


def _eval_rows(
    batch: dict[str, list[Any]], tokenizer: Any, windows: WindowSettings
) -> dict[str, Any]:
    batch = _clipped(batch, tokenizer, windows)
    rows = prepare_eval_features(batch, tokenizer, windows.max_seq_length, windows.doc_stride)
    # The same windows again, for their gold spans: the eval loss is then comparable with the
    # training loss, and a sweep may optimise it like GLUE's.
    spans = prepare_train_features(batch, tokenizer, windows.max_seq_length, windows.doc_stride)
    for column in LABEL_COLUMNS:
        rows[column] = spans[column]
    rows[LENGTH_COLUMN] = [len(ids) for ids in rows["input_ids"]]
    return rows
