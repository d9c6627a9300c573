"""The extractive question-answering pipeline (SQuAD v2): data, model, Trainer, result files.

The pieces: ``qa.splits`` (which questions, split by article), ``qa.features`` (context windows,
cached), a span-extraction model (``models``; LoRA with peft's ``QUESTION_ANS``), ``qa.evaluation``
(n-best post-processing and the official SQuAD 2.0 metric at every evaluation, so the sweep's
pruner sees ``eval_f1`` like it sees GLUE's accuracy) and ``job_loop`` (training, checkpoints,
resume, W&B, result files), which the GLUE pipeline's flow is made of too.

Imported only when a job of this kind runs (it imports torch and transformers at once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sweepfirst.errors import SweepfirstError
from sweepfirst.tasks import TaskSpec
from sweepfirst.training.arguments import build_training_arguments, make_schedule, resolve_precision
from sweepfirst.training.hooks import TrainingHooks
from sweepfirst.training.job_loop import JobParts, train_job
from sweepfirst.training.models import build_model, load_tokenizer
from sweepfirst.training.qa.evaluation import (
    MAX_ANSWER_LENGTH,
    N_BEST_SIZE,
    NULL_THRESHOLD,
    QaEvaluationRecorder,
    write_question_predictions,
)
from sweepfirst.training.qa.features import (
    LABEL_COLUMNS,
    build_features,
    longest_first,
    window_settings,
)
from sweepfirst.training.qa.splits import QaSplits, load_qa_splits
from sweepfirst.training.request import TrainingRequest
from sweepfirst.training.result import TrainingResult
from sweepfirst.training.splits import SplitRecipe
from sweepfirst.training.tokenization import LENGTH_COLUMN

logger = logging.getLogger(__name__)

#: The question-answering tasks this pipeline can train, with the loader of their (SQuAD-format)
#: data; a QA task registered without one is refused rather than trained on the wrong data.
QA_DATA_LOADERS: dict[str, Callable[[Path | None, SplitRecipe], QaSplits]] = {
    "squad_v2": load_qa_splits,
}


def train_question_answering(
    request: TrainingRequest, task: TaskSpec, hooks: TrainingHooks
) -> TrainingResult:
    """Train (or continue) one question-answering job and write its result files."""
    load_splits = QA_DATA_LOADERS.get(task.name)
    if load_splits is None:
        raise SweepfirstError(
            f"Training for question_answering task {task.name!r} is not implemented: no data "
            f"loader is registered for it (known: {', '.join(sorted(QA_DATA_LOADERS))})."
        )
    params = request.parsed_hyperparameters
    precision = resolve_precision(request.precision)
    logger.info("Job %s: %s", request.fingerprint(), request.to_json())

    tokenizer = load_tokenizer(request.model)
    windows = window_settings(request, task, tokenizer)
    recipe = SplitRecipe.from_request(request)
    splits = load_splits(request.data_dir, recipe)
    features = build_features(splits, recipe, task, tokenizer, windows, request.cache_dir)
    eval_rows = longest_first(features.eval)

    # Steps count windows, not questions: a long context gives several training rows.
    schedule = make_schedule(len(features.train), params, request.evaluations_per_epoch)
    args = build_training_arguments(
        request, params, schedule, precision, label_names=list(LABEL_COLUMNS)
    )
    model = build_model(request.model, task, request.method, params, request.seed)

    def make_recorder(current_step: Any) -> QaEvaluationRecorder:
        return QaEvaluationRecorder(task, splits.eval, eval_rows, current_step)

    def write_predictions(recorder: QaEvaluationRecorder) -> None:
        write_question_predictions(request.output_dir, recorder.question_lines())

    parts = JobParts(
        model=model,
        tokenizer=tokenizer,
        args=args,
        train=features.train,
        eval=eval_rows,
        make_recorder=make_recorder,
        write_predictions=write_predictions,
        num_train_examples=len(splits.train),
        num_eval_examples=len(splits.eval),
        eval_split=splits.eval_split,
        provenance={
            "data_source": splits.data_source,
            "data_fingerprint": splits.data_fingerprint,
            "tokenized_cache_key": features.cache_key,
        },
        extra={
            "num_train_windows": len(features.train),
            "num_eval_windows": len(eval_rows),
            "mean_train_tokens": float(np.mean(features.train[LENGTH_COLUMN][:])),
            "max_seq_length": windows.max_seq_length,
            "doc_stride": windows.doc_stride,
            "max_query_tokens": windows.max_query_tokens,
            "n_best_size": N_BEST_SIZE,
            "max_answer_length": MAX_ANSWER_LENGTH,
            "null_threshold": NULL_THRESHOLD,
        },
        final_extra=lambda recorder: recorder.tuned_thresholds(),
    )
    return train_job(request, task, hooks, parts, precision)
