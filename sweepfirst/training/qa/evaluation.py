"""Scoring SQuAD v2 evaluations, and the per-question predictions file.

Each evaluation turns the start/end logits of every window into one answer per question
(``span_processing.postprocess_predictions``: the best of the top ``n_best_size`` start and end
positions, spans up to ``max_answer_length`` tokens, "" when the no-answer score beats the best span
by more than ``null_threshold``) and scores them with the official SQuAD 2.0 metric
(``sweepfirst.squad_v2_metric``), which reports on the 0-100 scale.

``predictions.jsonl`` has one line per question of the eval split, in its order::

    {"id", "prediction", "null_score_diff", "answers", "has_answer", "exact", "f1"}

``exact`` and ``f1`` are that question's scores on the 0-1 scale, exactly as the official metric
counts them (their means times 100 are ``eval_exact`` and ``eval_f1``), so a report can bootstrap
over questions; ``null_score_diff`` is the no-answer score minus the best span's (the official
script's ``na_prob``), from which any other threshold can be re-applied.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sweepfirst.squad_v2_metric import (
    compute_exact,
    compute_f1,
    evaluate,
    normalize_answer,
)
from sweepfirst.training.outputs import PREDICTIONS_FILE, write_text_atomic
from sweepfirst.training.qa.dataset import dataset_to_articles
from sweepfirst.training.qa.span_processing import postprocess_predictions

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import EvalPrediction

    from sweepfirst.tasks import TaskSpec

#: Candidate start and end positions considered per window (the usual SQuAD setting).
N_BEST_SIZE = 20
#: Longest answer, in tokens.
MAX_ANSWER_LENGTH = 30
#: Answer "" when the no-answer score exceeds the best span's by more than this.
NULL_THRESHOLD = 0.0
#: The official metric's threshold-tuned scores: tuned on the split they are measured on, so
#: kept out of the metrics (and the sweep's and report's view) and recorded as details only.
TUNED_KEYS = ("best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh")


class QaEvaluationRecorder:
    """The Trainer's ``compute_metrics`` for SQuAD v2; keeps the latest evaluation's answers.

    Args:
        task: the task (its ``metric_names`` are what is returned).
        questions: the eval split's questions (``id``, ``title``, ``context``, ``answers``).
        rows: the eval windows in the order the Trainer evaluates them (``example_id``,
            ``offset_mapping``).
        current_step: returns the trainer's current optimizer step.
    """

    def __init__(
        self,
        task: TaskSpec,
        questions: Dataset,
        rows: Dataset,
        current_step: Callable[[], int],
        null_threshold: float = NULL_THRESHOLD,
    ) -> None:
        self.task = task
        self.null_threshold = null_threshold
        self._current_step = current_step
        # Read once: a column read from Arrow costs more than the post-processing itself.
        self._questions = [
            {"id": qid, "context": context}
            for qid, context in zip(questions["id"][:], questions["context"][:])
        ]
        self._rows = [
            {"example_id": example_id, "offset_mapping": offsets}
            for example_id, offsets in zip(rows["example_id"][:], rows["offset_mapping"][:])
        ]
        self._answers: dict[str, list[str]] = {
            qid: list(answers["text"])
            for qid, answers in zip(questions["id"][:], questions["answers"][:])
        }
        self._articles = dataset_to_articles(questions)
        self.step: int | None = None
        self.predictions: dict[str, str] = {}
        self.null_score_diffs: dict[str, float] = {}
        self.official: dict[str, float] = {}

    def __call__(self, prediction: EvalPrediction) -> dict[str, float]:
        # The model's outputs without the loss: (start_logits, end_logits).
        start_logits, end_logits = tuple(prediction.predictions)[:2]
        self.predictions, self.null_score_diffs = postprocess_predictions(
            self._questions,
            self._rows,
            np.asarray(start_logits, dtype=np.float32),
            np.asarray(end_logits, dtype=np.float32),
            n_best_size=N_BEST_SIZE,
            max_answer_length=MAX_ANSWER_LENGTH,
            null_threshold=self.null_threshold,
        )
        # The null-score differences as the official script's na_probs, at the same threshold,
        # reproduce exactly the answers above; they also give the best-threshold search.
        scores = evaluate(
            self._articles, self.predictions, self.null_score_diffs, self.null_threshold
        )
        self.official = {key: float(value) for key, value in scores.items()}
        self.step = self._current_step()
        return {
            name: self.official[name] for name in self.task.metric_names if name in self.official
        }

    def tuned_thresholds(self) -> dict[str, float]:
        """The official best-threshold scores of the latest evaluation (optimistic; see above)."""
        return {f"eval_{key}": self.official[key] for key in TUNED_KEYS if key in self.official}

    def question_lines(self) -> list[dict[str, Any]]:
        """One record per question of the latest evaluation (the ``predictions.jsonl`` lines)."""
        lines = []
        for question in self._questions:
            qid = question["id"]
            answers = self._answers[qid]
            exact, f1 = question_scores(
                answers,
                self.predictions[qid],
                self.null_score_diffs[qid],
                self.null_threshold,
            )
            lines.append(
                {
                    "id": qid,
                    "prediction": self.predictions[qid],
                    "null_score_diff": round(self.null_score_diffs[qid], 6),
                    "answers": answers,
                    "has_answer": bool(answers),
                    "exact": exact,
                    "f1": f1,
                }
            )
        return lines


def question_scores(
    answers: list[str], prediction: str, null_score_diff: float, null_threshold: float
) -> tuple[float, float]:
    """(exact, f1) of one question on the 0-1 scale, counted as the official SQuAD 2.0 metric does.

    Above the threshold the answer is "no answer": right exactly when the question has none.
    Otherwise the prediction is scored against each gold answer (answers that normalise to nothing
    do not count; none left means the gold answer is "") and the best score is kept.
    """
    if null_score_diff > null_threshold:
        score = float(not answers)
        return score, score
    gold = [text for text in answers if normalize_answer(text)] or [""]
    exact = max(compute_exact(text, prediction) for text in gold)
    f1 = max(compute_f1(text, prediction) for text in gold)
    return float(exact), float(f1)


def write_question_predictions(output_dir: Path, lines: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``predictions.jsonl`` (one JSON line per question), atomically."""
    text = "".join(
        json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines
    )
    path = Path(output_dir) / PREDICTIONS_FILE
    write_text_atomic(path, text)
    return path
