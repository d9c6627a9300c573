"""The SQuAD 2.0 score: the official ``evaluate-v2.0.py``, rewritten as a library.

Every number equals the official script's on the same inputs: answer normalisation, exact match
and F1 taken as the maximum over the gold answers, the ``na_prob > na_prob_thresh`` rule, the
best-threshold search and the key order of the result. The same floating-point operations are done
in the same order, so results agree to the last bit, not just to a tolerance.

One deliberate difference: the official script cannot score a prediction file that misses questions
(it prints ``Missing prediction for <qid>``, leaves the question out of the overall total, and then
fails with a ``KeyError`` in the HasAns/NoAns breakdown). Here a missing prediction is logged with
the same message and scores 0 everywhere, and the totals count every question in the data.
:func:`missing_predictions` lists those questions.

Pure standard library on purpose: the CLI scores a predictions file without importing torch.
"""

from __future__ import annotations

import collections
import json
import logging
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from sweepfirst.errors import DataError

logger = logging.getLogger(__name__)

#: One article of the official JSON format: ``{"title": ..., "paragraphs": [...]}``.
Article = Mapping[str, Any]
#: What :func:`evaluate` accepts as the gold data: the articles, the whole file's object, or a path.
DatasetLike = Iterable[Article] | Mapping[str, Any] | str | PathLike[str]

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


# --- answer normalisation and per-question scores -------------------------------------------


def normalize_answer(text: str) -> str:
    """Lower-case, drop ASCII punctuation, drop the articles a/an/the, collapse white space."""
    # The order matters and is the official one: punctuation goes before articles, so "the-end"
    # becomes "theend" (no article left), while "the end" becomes "end".
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _tokens(text: str) -> list[str]:
    return normalize_answer(text).split() if text else []


def compute_exact(gold: str, prediction: str) -> int:
    """1 when the normalised answers are equal, else 0."""
    return int(normalize_answer(gold) == normalize_answer(prediction))


def compute_f1(gold: str, prediction: str) -> float:
    """Token-level F1 of the normalised answers; when either is empty, 1 only if both are."""
    gold_tokens = _tokens(gold)
    pred_tokens = _tokens(prediction)
    if not gold_tokens or not pred_tokens:
        return float(gold_tokens == pred_tokens)
    common = collections.Counter(gold_tokens) & collections.Counter(pred_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    # Same operations, same order as the official script, so sums agree to the last bit.
    precision = 1.0 * num_same / len(pred_tokens)
    recall = 1.0 * num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


# --- reading the files ----------------------------------------------------------------------


def _read_json(path: str | PathLike[str], what: str) -> Any:
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise DataError(f"The {what} file {path} does not exist; check the path.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"The {what} file {path} is not readable JSON ({exc}).") from None


def load_dataset_file(path: str | PathLike[str]) -> list[dict[str, Any]]:
    """Read an official-format SQuAD JSON file and return its list of articles (``data``).

    Raises :class:`DataError` when the file is missing, is not JSON, or is not in the official
    format (articles with paragraphs with ``qas``, each with an ``id`` and ``answers``).
    """
    content = _read_json(path, "SQuAD data")
    if not isinstance(content, dict) or not isinstance(content.get("data"), list):
        raise DataError(
            f"The SQuAD data file {path} is not in the official format: "
            "expected a JSON object with a 'data' list of articles."
        )
    articles: list[dict[str, Any]] = content["data"]
    _gold_questions(articles, source=str(path))  # validates the structure
    return articles


def load_predictions_file(path: str | PathLike[str]) -> dict[str, str]:
    """Read a predictions file: a JSON object mapping question id to answer text ("" = no answer)."""
    content = _read_json(path, "predictions")
    if not isinstance(content, dict) or not all(isinstance(v, str) for v in content.values()):
        raise DataError(
            f"The predictions file {path} must be a JSON object mapping each question id to an "
            'answer string ("" for no answer).'
        )
    return content


def load_na_probs_file(path: str | PathLike[str]) -> dict[str, float]:
    """Read a no-answer file: a JSON object mapping question id to a number (probability/score)."""
    content = _read_json(path, "no-answer probability")
    if not isinstance(content, dict) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in content.values()
    ):
        raise DataError(
            f"The no-answer probability file {path} must be a JSON object mapping each question "
            "id to a number."
        )
    return content


# --- the evaluation -------------------------------------------------------------------------


@dataclass(frozen=True)
class _GoldQuestion:
    qid: str
    has_answer: bool
    #: The gold texts scored against; [""] when the question is unanswerable.
    answers: list[str]


def _gold_questions(articles: Iterable[Article], source: str) -> dict[str, _GoldQuestion]:
    """Every question of the data in file order, keyed by id (a repeated id keeps the last)."""
    questions: dict[str, _GoldQuestion] = {}
    try:
        for article in articles:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    qid = qa["id"]
                    texts = [answer["text"] for answer in qa["answers"]]
                    if not isinstance(qid, str) or not all(isinstance(t, str) for t in texts):
                        raise TypeError("question ids and answer texts must be strings")
                    # "Has an answer" is decided by the raw list, but answers that normalise to
                    # nothing are not scored against; both as in the official script.
                    gold = [t for t in texts if normalize_answer(t)] or [""]
                    questions[qid] = _GoldQuestion(qid, bool(qa["answers"]), gold)
    except (KeyError, TypeError) as exc:
        raise DataError(
            f"The SQuAD data in {source} is not in the official format: every article needs "
            f"'paragraphs', every paragraph 'qas', every question 'id' and 'answers' ({exc!r})."
        ) from None
    return questions


def _articles_from(dataset: DatasetLike) -> tuple[Iterable[Article], str]:
    if isinstance(dataset, (str, PathLike)):
        return load_dataset_file(dataset), str(dataset)
    if isinstance(dataset, Mapping):
        if not isinstance(dataset.get("data"), list):
            raise DataError("The SQuAD data object has no 'data' list of articles.")
        return dataset["data"], "the data object"
    return dataset, "the articles passed in"


def missing_predictions(dataset: DatasetLike, predictions: Mapping[str, str]) -> list[str]:
    """The ids of the questions in ``dataset`` that ``predictions`` has no answer for, in order."""
    articles, source = _articles_from(dataset)
    return [qid for qid in _gold_questions(articles, source) if qid not in predictions]


def evaluate(
    dataset: DatasetLike,
    predictions: Mapping[str, str],
    na_probs: Mapping[str, float] | None = None,
    na_prob_thresh: float = 1.0,
) -> collections.OrderedDict[str, float | int]:
    """Score ``predictions`` against the gold ``dataset`` as the official SQuAD 2.0 script does.

    Args:
        dataset: the articles (the official file's ``data`` list), the file's whole object, or a
            path to the file.
        predictions: question id -> answer text; ``""`` means "no answer". Ids not in the data are
            ignored; questions with no prediction are logged and score 0.
        na_probs: question id -> the model's probability (or score) that there is no answer. It
            must cover every predicted question. Without it every question gets 0.0, and the
            ``best_*`` keys are left out, as the official script does without ``--na-prob-file``.
        na_prob_thresh: a question counts as answered "no answer" when its na_prob is strictly
            greater than this.

    Returns:
        An OrderedDict on the 0-100 scale, keys in the official order: ``exact``, ``f1``,
        ``total``, then ``HasAns_*`` and ``NoAns_*`` (each left out when the data has no question
        of that kind), then ``best_exact``, ``best_exact_thresh``, ``best_f1``,
        ``best_f1_thresh`` when ``na_probs`` is given.
    """
    articles, source = _articles_from(dataset)
    gold = _gold_questions(articles, source)
    if not gold:
        raise DataError(f"The SQuAD data in {source} has no questions to score.")
    has_na_probs = na_probs is not None
    if na_probs is None:
        na_probs = {qid: 0.0 for qid in predictions}

    exact_raw: dict[str, float] = {}
    f1_raw: dict[str, float] = {}
    for question in gold.values():
        prediction = predictions.get(question.qid)
        if prediction is None:
            logger.warning("Missing prediction for %s", question.qid)
            continue
        if not isinstance(prediction, str):
            raise DataError(f"The prediction for question {question.qid} is not a string.")
        exact_raw[question.qid] = max(compute_exact(a, prediction) for a in question.answers)
        f1_raw[question.qid] = max(compute_f1(a, prediction) for a in question.answers)

    unlisted = [qid for qid in exact_raw if qid not in na_probs]
    if unlisted:
        raise DataError(
            f"The no-answer probabilities have no entry for {len(unlisted)} predicted "
            f"question(s), e.g. {unlisted[0]}; give one for every prediction."
        )

    exact = _apply_no_answer_threshold(exact_raw, gold, na_probs, na_prob_thresh)
    f1 = _apply_no_answer_threshold(f1_raw, gold, na_probs, na_prob_thresh)

    result: collections.OrderedDict[str, float | int] = collections.OrderedDict()
    _add_scores(result, "", exact, f1, list(gold))
    has_answer = [qid for qid, q in gold.items() if q.has_answer]
    no_answer = [qid for qid, q in gold.items() if not q.has_answer]
    if has_answer:
        _add_scores(result, "HasAns_", exact, f1, has_answer)
    if no_answer:
        _add_scores(result, "NoAns_", exact, f1, no_answer)

    if has_na_probs:
        best_exact, best_exact_thresh = _find_best_thresh(exact_raw, gold, predictions, na_probs)
        best_f1, best_f1_thresh = _find_best_thresh(f1_raw, gold, predictions, na_probs)
        result["best_exact"] = best_exact
        result["best_exact_thresh"] = best_exact_thresh
        result["best_f1"] = best_f1
        result["best_f1_thresh"] = best_f1_thresh
    return result


def evaluate_files(
    data_path: str | PathLike[str],
    pred_path: str | PathLike[str],
    na_prob_path: str | PathLike[str] | None = None,
    na_prob_thresh: float = 1.0,
) -> collections.OrderedDict[str, float | int]:
    """:func:`evaluate` on files: the gold data, the predictions and, optionally, the na_probs."""
    articles = load_dataset_file(data_path)
    predictions = load_predictions_file(pred_path)
    na_probs = load_na_probs_file(na_prob_path) if na_prob_path is not None else None
    return evaluate(articles, predictions, na_probs, na_prob_thresh)


def _apply_no_answer_threshold(
    scores: Mapping[str, float],
    gold: Mapping[str, _GoldQuestion],
    na_probs: Mapping[str, float],
    na_prob_thresh: float,
) -> dict[str, float]:
    """Scores after answering "no answer" wherever na_prob > threshold (1 if that was right)."""
    return {
        qid: float(not gold[qid].has_answer) if na_probs[qid] > na_prob_thresh else score
        for qid, score in scores.items()
    }


def _add_scores(
    result: dict[str, float | int],
    prefix: str,
    exact: Mapping[str, float],
    f1: Mapping[str, float],
    qids: list[str],
) -> None:
    # A question with no prediction is absent from the score maps and so adds 0.
    total = len(qids)
    result[f"{prefix}exact"] = 100.0 * sum(exact[q] for q in qids if q in exact) / total
    result[f"{prefix}f1"] = 100.0 * sum(f1[q] for q in qids if q in f1) / total
    result[f"{prefix}total"] = total


def _find_best_thresh(
    raw_scores: Mapping[str, float],
    gold: Mapping[str, _GoldQuestion],
    predictions: Mapping[str, str],
    na_probs: Mapping[str, float],
) -> tuple[float, float]:
    """The best overall score over na_prob thresholds, and the threshold that reaches it.

    The official sweep: start with every question answered "no answer" (so only the unanswerable
    ones score), then walk the questions by increasing na_prob, switching each to its prediction,
    and keep the first running total that beats all earlier ones. Kept as is, quirks included:
    the threshold returned is the na_prob of the question just switched even when later questions
    share that na_prob, and an unanswerable question loses its point when the prediction is a
    non-empty string, even one that normalises to "" (such as " ").
    """
    # Questions without a prediction score 0 at every threshold, so they add nothing here.
    current: float = sum(1 for qid in raw_scores if not gold[qid].has_answer)
    best_score = current
    best_thresh: float = 0.0
    # sorted() is stable: ties keep the mapping's order, as the official script's do.
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in raw_scores:
            continue
        if gold[qid].has_answer:
            current += raw_scores[qid]
        elif predictions[qid]:
            current -= 1
        if current > best_score:
            best_score = current
            best_thresh = na_probs[qid]
    return 100.0 * best_score / len(gold), best_thresh
