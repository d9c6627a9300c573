"""Run one training job: the heavy entry point (imports torch and transformers).

``run_training`` dispatches on the task's kind through ``PIPELINES``: sequence classification
(GLUE, ``classification``) and extractive question answering (SQuAD v2, ``question_answering``).

A job is resumable: its folder holds ``request.json`` (checked against the request, so a changed
configuration is refused), atomic checkpoints, and at the end ``metrics.json`` and
``predictions.jsonl``. Calling ``run_training`` again with the same request continues from the
latest complete checkpoint, or returns the recorded result of a completed job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sweepfirst.errors import SweepfirstError
from sweepfirst.tasks import TaskSpec, get_task
from sweepfirst.training import checkpoints, outputs
from sweepfirst.training.hooks import NO_HOOKS, TrainingHooks
from sweepfirst.training.joblog import job_logging
from sweepfirst.training.request import TrainingRequest
from sweepfirst.training.result import TrainingResult

logger = logging.getLogger(__name__)

Pipeline = Callable[[TrainingRequest, TaskSpec, TrainingHooks], TrainingResult]


def run_training(request: TrainingRequest, hooks: TrainingHooks = NO_HOOKS) -> TrainingResult:
    """Train and evaluate one job as ``request`` describes, resuming from its folder if it can.

    Returns a ``TrainingResult`` whose status is ``completed``, ``pruned`` (``hooks.on_evaluation``
    returned False) or ``interrupted`` (``hooks.should_stop`` returned True; call again to continue).

    Raises:
        SweepfirstError: (or its DataError/ModelError subclasses) for a mistake in the request, the
            data or the model, including a resume with a changed configuration.
    """
    task = get_task(request.task)
    pipeline = PIPELINES.get(task.kind)
    if pipeline is None:
        raise SweepfirstError(
            f"Training for {task.kind} tasks ({task.name}) is not implemented yet."
        )
    request.output_dir.mkdir(parents=True, exist_ok=True)
    outputs.record_request(request)
    recorded = outputs.read_result(request.output_dir)
    if recorded is not None and recorded.status == "completed":
        # The job already finished (e.g. its worker died before the engine recorded that).
        return recorded
    outputs.clear_results(request.output_dir)
    checkpoints.clear_staging(request.output_dir)
    with job_logging(request.output_dir / outputs.LOG_FILE):
        return pipeline(request, task, hooks)


def _sequence_classification(
    request: TrainingRequest, task: TaskSpec, hooks: TrainingHooks
) -> TrainingResult:
    # Imported here: the pipeline module imports torch and transformers at once.
    from sweepfirst.training.classification import train_sequence_classification

    return train_sequence_classification(request, task, hooks)


def _question_answering(
    request: TrainingRequest, task: TaskSpec, hooks: TrainingHooks
) -> TrainingResult:
    from sweepfirst.training.qa.pipeline import train_question_answering

    return train_question_answering(request, task, hooks)


#: Training pipelines by task kind.
PIPELINES: dict[str, Pipeline] = {
    "sequence_classification": _sequence_classification,
    "question_answering": _question_answering,
}
