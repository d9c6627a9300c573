"""The SQuAD 2.0 metric: hand-worked examples, then the real dev set."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from sweepfirst.errors import DataError
from sweepfirst.squad_v2_metric import (
    compute_exact,
    compute_f1,
    evaluate,
    evaluate_files,
    load_dataset_file,
    missing_predictions,
    normalize_answer,
)

OFFICIAL_KEYS = [
    "exact", "f1", "total",
    "HasAns_exact", "HasAns_f1", "HasAns_total",
    "NoAns_exact", "NoAns_f1", "NoAns_total",
    "best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh",
]  # fmt: skip


def question(qid: str, *answers: str) -> dict[str, Any]:
    return {
        "id": qid,
        "question": f"question {qid}?",
        "answers": [{"text": text, "answer_start": 0} for text in answers],
        "is_impossible": not answers,
    }


def articles(*questions: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"title": "T", "paragraphs": [{"context": "ctx", "qas": list(questions)}]}]


# Two answerable and two unanswerable questions; every number below is worked out by hand.
DATA = articles(
    question("q1", "Denver Broncos", "Broncos"),
    question("q2", "1990"),
    question("q3"),
    question("q4"),
)
PREDICTIONS = {"q1": "the Denver Broncos team", "q2": "1990", "q3": "", "q4": "something"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Cat!", "cat"),
        ("  a   quick\tbrown\n fox ", "quick brown fox"),
        ("An apple and the pear", "apple and pear"),
        ("theater anthem", "theater anthem"),  # articles only as whole words
        ("the-end", "theend"),  # punctuation goes first, so no article is left
        ("Hello, World...", "hello world"),
        ("", ""),
    ],
)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_exact_ignores_case_punctuation_articles_and_space() -> None:
    assert compute_exact("The Denver Broncos.", "denver  broncos") == 1
    assert compute_exact("Denver", "Denver Broncos") == 0
    assert compute_exact("", "the") == 1  # both normalise to nothing


def test_f1_partial_overlap() -> None:
    # gold [quick, brown, fox], prediction [quick, brown, dog]: P = R = 2/3.
    assert compute_f1("the quick brown fox", "quick brown dog") == pytest.approx(2 / 3)
    # gold [denver, broncos], prediction [denver, broncos, team]: P = 2/3, R = 1, F1 = 0.8.
    assert compute_f1("Denver Broncos", "the Denver Broncos team") == pytest.approx(0.8)
    # Repeated tokens count only as often as they appear in both.
    assert compute_f1("a b b", "b b b c") == pytest.approx(2 * (2 / 4) * (2 / 2) / (2 / 4 + 2 / 2))
    assert compute_f1("one", "two") == 0.0
    assert compute_f1("", "") == 1.0
    assert compute_f1("", "something") == 0.0


def test_evaluate_by_hand() -> None:
    result = evaluate(DATA, PREDICTIONS)
    # q1: exact 0, F1 max(0.8 vs "Denver Broncos", 0.5 vs "Broncos") = 0.8; q2: 1, 1;
    # q3 (no answer, predicted ""): 1, 1; q4 (no answer, predicted text): 0, 0.
    assert result == {
        "exact": pytest.approx(50.0),
        "f1": pytest.approx(70.0),
        "total": 4,
        "HasAns_exact": pytest.approx(50.0),
        "HasAns_f1": pytest.approx(90.0),
        "HasAns_total": 2,
        "NoAns_exact": pytest.approx(50.0),
        "NoAns_f1": pytest.approx(50.0),
        "NoAns_total": 2,
    }
    assert list(result) == OFFICIAL_KEYS[:9]  # no na_probs: no best_* keys


def test_several_gold_answers_take_the_max() -> None:
    data = articles(question("q", "Broncos", "Denver Broncos", "the Broncos"))
    assert evaluate(data, {"q": "Broncos"})["exact"] == 100.0
    # "Denver" against "Denver Broncos": P = 1, R = 1/2.
    assert evaluate(data, {"q": "Denver"})["f1"] == pytest.approx(100 * 2 / 3)


def test_only_an_empty_prediction_scores_on_unanswerable() -> None:
    data = articles(question("q"))
    assert evaluate(data, {"q": ""})["exact"] == 100.0
    assert evaluate(data, {"q": "the"})["f1"] == 100.0  # normalises to "" as well
    assert evaluate(data, {"q": "anything"})["f1"] == 0.0


def test_na_prob_threshold_answers_no_answer_above_it() -> None:
    na_probs = {"q1": 0.9, "q2": 0.2, "q3": 0.7, "q4": 0.95}
    # Above 0.5: q1 (wrong: it has an answer) -> 0, q3 and q4 (right) -> 1; q2 keeps its 1.
    result = evaluate(DATA, PREDICTIONS, na_probs, na_prob_thresh=0.5)
    assert result["exact"] == pytest.approx(75.0)
    assert result["f1"] == pytest.approx(75.0)
    assert result["NoAns_exact"] == pytest.approx(100.0)
    # Strictly greater: a na_prob equal to the threshold keeps the prediction.
    assert evaluate(DATA, PREDICTIONS, na_probs, na_prob_thresh=0.9)["HasAns_f1"] == pytest.approx(
        90.0
    )
    # The default 1.0 changes nothing for probabilities.
    assert evaluate(DATA, PREDICTIONS, na_probs)["exact"] == pytest.approx(50.0)


def test_best_threshold_search_by_hand() -> None:
    na_probs = {"q1": 0.9, "q2": 0.2, "q3": 0.7, "q4": 0.95}
    result = evaluate(DATA, PREDICTIONS, na_probs)
    assert list(result) == OFFICIAL_KEYS
    # Start with everything "no answer": 2 points (q3, q4). Walk by na_prob:
    #   q2 (0.2) +1 -> 3 | q3 (0.7) +0 -> 3 | q1 (0.9) +0 exact / +0.8 F1 | q4 (0.95) -1.
    # Exact peaks at 3 first reached at 0.2; F1 peaks at 3.8 at 0.9.
    assert result["best_exact"] == pytest.approx(75.0)
    assert result["best_exact_thresh"] == 0.2
    assert result["best_f1"] == pytest.approx(95.0)
    assert result["best_f1_thresh"] == 0.9


def test_best_threshold_keeps_all_no_answer_when_nothing_beats_it() -> None:
    data = articles(question("q1", "yes"), question("q2"))
    result = evaluate(data, {"q1": "no", "q2": "x"}, {"q1": 0.1, "q2": 0.3})
    assert result["best_exact"] == pytest.approx(50.0)
    assert result["best_exact_thresh"] == 0.0


def test_best_threshold_quirk_whitespace_prediction_loses_the_point() -> None:
    # " " normalises to "" and so is right for an unanswerable question, but the official
    # threshold search tests the raw string, so answering it costs the point there.
    data = articles(question("q"))
    result = evaluate(data, {"q": " "}, {"q": 0.5})
    assert result["exact"] == 100.0
    assert result["best_exact"] == 100.0  # reached before q is switched to its prediction
    assert result["best_exact_thresh"] == 0.0


def test_category_without_questions_is_left_out() -> None:
    answerable_only = evaluate(articles(question("q", "x")), {"q": "x"})
    assert list(answerable_only) == [
        "exact",
        "f1",
        "total",
        "HasAns_exact",
        "HasAns_f1",
        "HasAns_total",
    ]
    unanswerable_only = evaluate(articles(question("q")), {"q": ""})
    assert list(unanswerable_only) == [
        "exact",
        "f1",
        "total",
        "NoAns_exact",
        "NoAns_f1",
        "NoAns_total",
    ]


def test_missing_predictions_score_zero_and_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    predictions = {k: v for k, v in PREDICTIONS.items() if k != "q2"}
    predictions["not-in-data"] = "ignored"
    with caplog.at_level(logging.WARNING):
        result = evaluate(DATA, predictions, {k: 0.0 for k in predictions})
    assert "Missing prediction for q2" in caplog.text
    assert missing_predictions(DATA, predictions) == ["q2"]
    assert result["total"] == 4 and result["HasAns_total"] == 2
    assert result["exact"] == pytest.approx(25.0)  # q3 only
    assert result["HasAns_f1"] == pytest.approx(40.0)  # q1's 0.8, q2's 0
    # Best threshold: start at 2 (q3, q4 as "no answer"; q2 has no prediction and adds nothing),
    # then q1 (+0 exact, +0.8 F1), q3 (+0), q4 (-1), out of all 4 questions.
    assert result["best_exact"] == pytest.approx(50.0)
    assert result["best_f1"] == pytest.approx(70.0)


def test_na_probs_must_cover_every_prediction() -> None:
    with pytest.raises(DataError, match="no entry"):
        evaluate(DATA, PREDICTIONS, {"q1": 0.1})


def test_evaluate_files_and_bad_files(tmp_path: Path) -> None:
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps({"version": "v2.0", "data": DATA}))
    pred_file = tmp_path / "pred.json"
    pred_file.write_text(json.dumps(PREDICTIONS))
    na_file = tmp_path / "na.json"
    na_file.write_text(json.dumps({"q1": 0.9, "q2": 0.2, "q3": 0.7, "q4": 0.95}))

    assert evaluate_files(data_file, pred_file) == evaluate(DATA, PREDICTIONS)
    assert evaluate_files(data_file, pred_file, na_file, 0.5)["exact"] == pytest.approx(75.0)
    assert evaluate(data_file, PREDICTIONS) == evaluate(DATA, PREDICTIONS)

    with pytest.raises(DataError, match="does not exist"):
        load_dataset_file(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(DataError, match="not readable JSON"):
        load_dataset_file(broken)
    broken.write_text(
        json.dumps({"data": [{"title": "T", "paragraphs": [{"qas": [{"id": "q"}]}]}]})
    )
    with pytest.raises(DataError, match="official format"):
        load_dataset_file(broken)
    broken.write_text(json.dumps([1, 2]))
    with pytest.raises(DataError, match="official format"):
        load_dataset_file(broken)
    broken.write_text(json.dumps({"q1": 3}))
    with pytest.raises(DataError, match="answer string"):
        evaluate_files(data_file, broken)
    broken.write_text(json.dumps({"q1": "high"}))
    with pytest.raises(DataError, match="number"):
        evaluate_files(data_file, pred_file, broken)


# --- the real dev set ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev_articles(squad_dir: Path) -> list[dict[str, Any]]:
    return load_dataset_file(squad_dir / "dev-v2.0.json")


def test_real_dev_set_counts(dev_articles: list[dict[str, Any]]) -> None:
    qas = [qa for article in dev_articles for p in article["paragraphs"] for qa in p["qas"]]
    assert len(dev_articles) == 35
    assert len(qas) == 11873
    assert sum(1 for qa in qas if not qa["answers"]) == 5945


def test_real_dev_gold_answers_score_100(dev_articles: list[dict[str, Any]]) -> None:
    gold = {
        qa["id"]: (qa["answers"][0]["text"] if qa["answers"] else "")
        for article in dev_articles
        for p in article["paragraphs"]
        for qa in p["qas"]
    }
    result = evaluate(dev_articles, gold)
    assert result["exact"] == 100.0 and result["f1"] == 100.0
    assert (result["total"], result["HasAns_total"], result["NoAns_total"]) == (11873, 5928, 5945)


def test_real_dev_all_empty_predictions(dev_articles: list[dict[str, Any]]) -> None:
    empty = {qa["id"]: "" for a in dev_articles for p in a["paragraphs"] for qa in p["qas"]}
    result = evaluate(dev_articles, empty)
    assert result["NoAns_exact"] == 100.0
    assert result["HasAns_exact"] == 0.0
    assert result["exact"] == 100.0 * 5945 / 11873
    assert result["f1"] == 100.0 * 5945 / 11873
