"""SQuAD 2.0 examples to model features, and start/end logits back to answers.

This is the field's standard recipe, as in transformers' ``examples/pytorch/question-answering``
(``run_qa.py`` and ``utils_qa.postprocess_qa_predictions`` with ``version_2_with_negative``):

* question first, context second, truncating only the context; a context too long for one
  window is cut into several overlapping windows (``doc_stride`` tokens of overlap), each its own
  feature;
* a training feature points at the answer's first and last token, or at the CLS token when the
  question is unanswerable or the answer is not wholly inside that window;
* at evaluation each feature remembers its example and the character offsets of its context tokens
  (``None`` elsewhere), so the best span across windows maps back to text of the original context;
  the no-answer score is the *smallest* CLS start+end logit over the windows.

No padding is done here: batches are padded on the fly (``DataCollatorWithPadding``). Before eval
features reach the model, drop the bookkeeping columns (``example_id``, ``offset_mapping``).
Post-processing is numpy only; the logits come back from ``Trainer.predict`` as numpy arrays.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: A table of rows: a ``datasets.Dataset`` or a list of dicts.
Rows = Any
#: A batch as ``Dataset.map(batched=True)`` passes it: column name -> list of values.
Batch = Mapping[str, Sequence[Any]]


def _tokenize_windows(examples: Batch, tokenizer: Any, max_seq_length: int, doc_stride: int) -> Any:
    """Tokenize (question, context) pairs into overlapping windows over the context."""
    if not 0 <= doc_stride < max_seq_length:
        raise ValueError(f"doc_stride ({doc_stride}) must be >= 0 and < max_seq_length.")
    if max_seq_length > tokenizer.model_max_length:
        logger.warning(
            "max_seq_length %d is longer than the model allows; using %d.",
            max_seq_length,
            tokenizer.model_max_length,
        )
        max_seq_length = tokenizer.model_max_length
    # Some SQuAD questions start with a lot of white space: it would only eat window room.
    questions = [question.lstrip() for question in examples["question"]]
    contexts = list(examples["context"])
    # Models padded on the left (XLNet-style) take the context first; truncation must then hit
    # the first sequence. Everything downstream asks _context_sequence_id which one it is.
    pad_on_right = tokenizer.padding_side == "right"
    return tokenizer(
        questions if pad_on_right else contexts,
        contexts if pad_on_right else questions,
        truncation="only_second" if pad_on_right else "only_first",
        max_length=max_seq_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )


def _context_sequence_id(tokenizer: Any) -> int:
    return 1 if tokenizer.padding_side == "right" else 0


def prepare_train_features(
    examples: Batch, tokenizer: Any, max_seq_length: int = 384, doc_stride: int = 128
) -> dict[str, list[Any]]:
    """Training features for a batch of examples (use with ``Dataset.map(batched=True)``).

    One example can give several features (one per context window), so pass
    ``remove_columns=dataset.column_names`` to ``map``. Each feature has the tokenizer's inputs
    plus ``start_positions`` / ``end_positions``: the answer's first and last token, or the CLS
    token when there is no answer or the (first gold) answer is not wholly in the window.
    """
    encoding = _tokenize_windows(examples, tokenizer, max_seq_length, doc_stride)
    context_id = _context_sequence_id(tokenizer)
    sample_mapping = encoding["overflow_to_sample_mapping"]
    start_positions: list[int] = []
    end_positions: list[int] = []
    for i, offsets in enumerate(encoding["offset_mapping"]):
        input_ids = encoding["input_ids"][i]
        cls_index = (
            input_ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in input_ids else 0
        )
        answers = examples["answers"][sample_mapping[i]]
        if not answers["answer_start"]:
            start_positions.append(cls_index)
            end_positions.append(cls_index)
            continue
        start_char = answers["answer_start"][0]
        end_char = start_char + len(answers["text"][0])

        sequence_ids = encoding.sequence_ids(i)
        context_tokens = [k for k, sid in enumerate(sequence_ids) if sid == context_id]
        first, last = context_tokens[0], context_tokens[-1]
        if not (offsets[first][0] <= start_char and offsets[last][1] >= end_char):
            start_positions.append(cls_index)
            end_positions.append(cls_index)
            continue
        # The last context token starting at or before the answer, and the first ending at or
        # after it: the smallest token span covering the answer's characters.
        token_start = first
        while token_start <= last and offsets[token_start][0] <= start_char:
            token_start += 1
        token_end = last
        while token_end >= first and offsets[token_end][1] >= end_char:
            token_end -= 1
        start_positions.append(token_start - 1)
        end_positions.append(token_end + 1)

    features = _model_inputs(encoding)
    features["start_positions"] = start_positions
    features["end_positions"] = end_positions
    return features


def prepare_eval_features(
    examples: Batch, tokenizer: Any, max_seq_length: int = 384, doc_stride: int = 128
) -> dict[str, list[Any]]:
    """Evaluation features for a batch of examples (use with ``Dataset.map(batched=True)``).

    Same windows as :func:`prepare_train_features`, plus ``example_id`` (the example's ``id``)
    and ``offset_mapping`` with ``None`` for every token outside the context, which is how
    :func:`postprocess_predictions` knows a token cannot be part of an answer.
    """
    encoding = _tokenize_windows(examples, tokenizer, max_seq_length, doc_stride)
    context_id = _context_sequence_id(tokenizer)
    sample_mapping = encoding["overflow_to_sample_mapping"]
    example_ids: list[str] = []
    offset_mappings: list[list[tuple[int, int] | None]] = []
    for i, offsets in enumerate(encoding["offset_mapping"]):
        example_ids.append(examples["id"][sample_mapping[i]])
        sequence_ids = encoding.sequence_ids(i)
        offset_mappings.append(
            [
                tuple(offset) if sequence_ids[k] == context_id else None
                for k, offset in enumerate(offsets)
            ]
        )
    features = _model_inputs(encoding)
    features["example_id"] = example_ids
    features["offset_mapping"] = offset_mappings
    return features


def _model_inputs(encoding: Any) -> dict[str, list[Any]]:
    """The tokenizer's outputs without the window bookkeeping."""
    skip = {"offset_mapping", "overflow_to_sample_mapping"}
    return {key: list(value) for key, value in encoding.items() if key not in skip}


def _column(rows: Rows, name: str) -> list[Any]:
    if hasattr(rows, "column_names"):  # a datasets.Dataset: read the column in one go
        return list(rows[name])
    return [row[name] for row in rows]


def postprocess_predictions(
    examples: Rows,
    features: Rows,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    n_best_size: int = 20,
    max_answer_length: int = 30,
    null_threshold: float = 0.0,
) -> tuple[dict[str, str], dict[str, float]]:
    """Turn start/end logits into one answer per example, and a no-answer score for each.

    Args:
        examples: rows with ``id`` and ``context`` (the examples the features were built from).
        features: rows with ``example_id`` and ``offset_mapping``, as from
            :func:`prepare_eval_features`, in the order of the logits.
        start_logits, end_logits: shape ``(n_features, seq_len)``; positions past a feature's
            length (padding added when batches were concatenated) are ignored.
        n_best_size: how many top start and top end positions are paired in each window.
        max_answer_length: longest answer, in tokens.
        null_threshold: answer "" when ``null_score - best_span_score`` is above this.

    Returns:
        ``(predictions, null_score_diffs)``: question id -> answer text ("" for no answer), and
        question id -> ``null_score - best_span_score``. The second is what the SQuAD 2.0 metric
        takes as ``na_probs`` (with ``na_prob_thresh=null_threshold`` it reproduces these
        predictions, and its best-threshold search tunes ``null_threshold``).
    """
    start_logits = np.asarray(start_logits)
    end_logits = np.asarray(end_logits)
    offset_mappings = _column(features, "offset_mapping")
    feature_example_ids = _column(features, "example_id")
    if not len(start_logits) == len(end_logits) == len(offset_mappings):
        raise ValueError(
            f"Got {len(start_logits)} start and {len(end_logits)} end logit rows for "
            f"{len(offset_mappings)} features; they must match one to one."
        )
    features_by_example: dict[str, list[int]] = collections.defaultdict(list)
    for index, example_id in enumerate(feature_example_ids):
        features_by_example[example_id].append(index)

    predictions: dict[str, str] = {}
    null_score_diffs: dict[str, float] = {}
    for example_id, context in zip(_column(examples, "id"), _column(examples, "context")):
        feature_indices = features_by_example.get(example_id)
        if not feature_indices:
            raise ValueError(
                f"No features for example {example_id}; build them from these examples."
            )
        # The no-answer score is the *smallest* CLS score over the windows: a window that
        # holds the answer should be confident there is one, whatever the other windows say.
        null_score = min(start_logits[i][0] + end_logits[i][0] for i in feature_indices)
        best_text, best_start_logit, best_end_logit = "", 0.0, 0.0
        best_score: float | None = None
        for i in feature_indices:
            for start, end in _candidate_spans(
                start_logits[i], end_logits[i], offset_mappings[i], n_best_size, max_answer_length
            ):
                score = start_logits[i][start] + end_logits[i][end]
                text = context[offset_mappings[i][start][0] : offset_mappings[i][end][1]]
                # Strictly greater: on a tie the earlier window / higher-ranked pair wins.
                if text and (best_score is None or score > best_score):
                    best_score = score
                    best_text = text
                    best_start_logit, best_end_logit = start_logits[i][start], end_logits[i][end]
        # With no valid span at all this compares against a span scoring 0, as utils_qa does.
        diff = float(null_score - best_start_logit - best_end_logit)
        null_score_diffs[example_id] = diff
        predictions[example_id] = "" if best_score is None or diff > null_threshold else best_text
    return predictions, null_score_diffs


def _candidate_spans(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: Sequence[Sequence[int] | None],
    n_best_size: int,
    max_answer_length: int,
) -> list[tuple[int, int]]:
    """(start, end) token pairs from the top starts and ends that make a valid context span."""
    top_starts = np.argsort(start_logits)[-1 : -n_best_size - 1 : -1].tolist()
    top_ends = np.argsort(end_logits)[-1 : -n_best_size - 1 : -1].tolist()
    spans = []
    for start in top_starts:
        for end in top_ends:
            if start >= len(offsets) or end >= len(offsets):
                continue  # padding added past this feature's length
            if not offsets[start] or not offsets[end]:
                continue  # question, special or padding token: not part of the context
            if end < start or end - start + 1 > max_answer_length:
                continue
            spans.append((start, end))
    return spans
