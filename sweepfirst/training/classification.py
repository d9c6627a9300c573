"""The sequence-classification pipeline (GLUE): data, model and scorer for ``job_loop``.

Imported only when a job of this kind runs (it imports torch and transformers at once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from sweepfirst.tasks import TaskSpec
from sweepfirst.training import outputs
from sweepfirst.training.arguments import build_training_arguments, make_schedule, resolve_precision
from sweepfirst.training.data import load_raw_splits
from sweepfirst.training.hooks import TrainingHooks
from sweepfirst.training.job_loop import JobParts, train_job
from sweepfirst.training.metrics import EvaluationRecorder
from sweepfirst.training.models import build_model, load_tokenizer
from sweepfirst.training.request import TrainingRequest
from sweepfirst.training.result import TrainingResult
from sweepfirst.training.splits import SplitRecipe, make_splits
from sweepfirst.training.tokenization import LENGTH_COLUMN, cache_key, tokenize_splits

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedData:
    """A job's tokenized train and eval examples, and where they came from."""

    tokenizer: PreTrainedTokenizerBase
    train: Dataset
    eval: Dataset  # longest first, see `longest_first`
    eval_split: str
    data_fingerprint: str
    cache_key: str


def prepare_data(request: TrainingRequest, task: TaskSpec) -> PreparedData:
    """Load, split and tokenize (or fetch from the cache) the examples of one job."""
    tokenizer = load_tokenizer(request.model)
    raw = load_raw_splits(task, request.data_dir)
    recipe = SplitRecipe.from_request(request)
    splits = make_splits(raw, recipe)
    key = cache_key(task, raw.fingerprint, tokenizer, request.max_seq_length, recipe.cache_key())
    train, held_out = tokenize_splits(
        splits, tokenizer, request.max_seq_length, request.cache_dir, key
    )
    return PreparedData(
        tokenizer=tokenizer,
        train=train,
        eval=longest_first(held_out),
        eval_split=splits.eval_split,
        data_fingerprint=raw.fingerprint,
        cache_key=key,
    )


def longest_first(ds: Dataset) -> Dataset:
    """``ds`` ordered by decreasing length, ties by example id (a fixed, reproducible order).

    Evaluation batches then hold examples of similar length (little padding), and an
    out-of-memory error shows on the first batch rather than late in a run.
    """
    # `[:]` reads a column in one go; iterating a datasets 5 column reads row by row.
    order = np.lexsort((np.asarray(ds["idx"][:]), -np.asarray(ds[LENGTH_COLUMN][:])))
    # keep_in_memory: no indices cache file next to the shared tokenized cache entry.
    return ds.select(order.tolist(), keep_in_memory=True)


def train_sequence_classification(
    request: TrainingRequest, task: TaskSpec, hooks: TrainingHooks
) -> TrainingResult:
    """Train (or continue) one classification job and write its result files."""
    params = request.parsed_hyperparameters
    precision = resolve_precision(request.precision)
    logger.info("Job %s: %s", request.fingerprint(), request.to_json())

    data = prepare_data(request, task)
    schedule = make_schedule(len(data.train), params, request.evaluations_per_epoch)
    args = build_training_arguments(request, params, schedule, precision)
    model = build_model(request.model, task, request.method, params, request.seed)

    def make_recorder(current_step: Callable[[], int]) -> EvaluationRecorder:
        return EvaluationRecorder(task, current_step=current_step)

    def write_predictions(recorder: EvaluationRecorder) -> None:
        if recorder.logits is not None and recorder.labels is not None:
            outputs.write_predictions(
                request.output_dir, data.eval["idx"][:], recorder.labels.tolist(), recorder.logits
            )

    parts = JobParts(
        model=model,
        tokenizer=data.tokenizer,
        args=args,
        train=data.train,
        eval=data.eval,
        make_recorder=make_recorder,
        write_predictions=write_predictions,
        num_train_examples=len(data.train),
        num_eval_examples=len(data.eval),
        eval_split=data.eval_split,
        provenance={
            "data_source": "local" if request.data_dir is not None else "hub",
            "data_fingerprint": data.data_fingerprint,
            "tokenized_cache_key": data.cache_key,
        },
        extra={
            "mean_train_tokens": float(np.mean(data.train[LENGTH_COLUMN][:])),
            "label_names": list(task.label_names),
        },
    )
    return train_job(request, task, hooks, parts, precision)
