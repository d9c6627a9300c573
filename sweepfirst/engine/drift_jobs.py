"""Running the drift phase's jobs: a task's base representations, and one model's drift.

They are jobs like any other (claimed, leased, heartbeated, retried by `sweepfirst.attempts`),
but they train nothing: `execute.execute_job` hands them here. A drift job whose base
representations are not cached yet computes them itself, so a lost representations job (or a run
from before this feature) never blocks it.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweepfirst.attempts import Ending
from sweepfirst.errors import LeaseLost, ModelError, SweepfirstError
from sweepfirst.spec import Workflow
from sweepfirst.states import JobEvent, JobPhase
from sweepfirst.store import jobs as job_store
from sweepfirst.store.context import Context
from sweepfirst.store.jobs import Lease
from sweepfirst.store.models import Job, Run

log = logging.getLogger(__name__)

RESULT_FILE = "drift.json"
REPRESENTATIONS_FILE = "representations.json"


def no_model_sentence(job: Job) -> str:
    """Why a job's drift cannot be measured, and how to keep models next time."""
    return (f"Job {job.id} ({job.phase} {job.task}/{job.method} seed {job.seed}) kept no model "
            "(no final_model/ and no checkpoint of its last step in its folder), so its drift "
            "cannot be measured; keep models with training.save_final_model: true (the default "
            "now; before it, training.keep_checkpoints: true) and rerun production.")


@dataclass(frozen=True)
class BaseRepresentations:
    reps: Any  # sweepfirst.drift.representations.Representations (torch-free, imported lazily)
    key: str
    cached: bool
    data_fingerprint: str
    model_hash: str | None
    rows: Any  # datasets.Dataset: the dev sample


def base_representations(ctx: Context, workflow: Workflow, task: str, data_dir: Path | None,
                         examples: int) -> BaseRepresentations:
    """The base model's representations of the task's dev sample: from the cache, else computed
    and cached (keyed by the model's weights hash and the data fingerprint)."""
    from sweepfirst.drift.representations import (
        Representations,
        cache_key,
        cache_path,
        dev_sample,
        extract,
    )
    from sweepfirst.provenance import model_identity

    sample = dev_sample(task, data_dir, examples)
    identity = model_identity(workflow.model)
    key = cache_key(model_hash=identity["hash"] or f"id:{workflow.model}", data_fingerprint=sample.data_fingerprint,
                    task=task, examples=examples, max_seq_length=workflow.data.max_seq_length)
    path = cache_path(ctx.artifacts / "cache", key)
    if path.is_file():
        return BaseRepresentations(Representations.load(path), key, True, sample.data_fingerprint,
                                   identity["hash"], sample.rows)
    from sweepfirst.drift.models import load_base_encoder
    from sweepfirst.training.models import load_tokenizer, resolve_model_name

    encoder = load_base_encoder(resolve_model_name(workflow.model))
    reps = extract(encoder, load_tokenizer(workflow.model), sample.rows, workflow.data.max_seq_length)
    reps.save(path)
    return BaseRepresentations(reps, key, False, sample.data_fingerprint, identity["hash"], sample.rows)


def measure_drift(ctx: Context, workflow: Workflow, job: Job, source: Job, data_dir: Path | None) -> dict[str, Any]:
    """Everything one drift job records about its source job's model."""
    from sweepfirst.drift.measure import as_records, representation_similarity, weight_changes
    from sweepfirst.drift.models import find_saved_model, load_base_encoder, load_tuned_model
    from sweepfirst.drift.representations import extract
    from sweepfirst.tasks import get_task
    from sweepfirst.training.models import load_tokenizer, resolve_model_name

    saved = find_saved_model(ctx.job_dir(source.output_dir))
    if saved is None:
        raise ModelError(no_model_sentence(source))
    hp = job.hyperparameters
    base = base_representations(ctx, workflow, job.task, data_dir, int(hp["examples"]))
    source_name = resolve_model_name(workflow.model)
    tuned = load_tuned_model(saved, source_name, get_task(job.task))
    tuned_reps = extract(tuned, load_tokenizer(workflow.model), base.rows, workflow.data.max_seq_length)
    layers = representation_similarity(base.reps, tuned_reps)
    matrices = weight_changes(load_base_encoder(source_name), tuned, top_k=int(hp["intruder_top_k"]),
                              threshold=float(hp["intruder_threshold"]), base_key=base.model_hash)
    return {
        "source_job": source.id, "source_phase": source.phase, "task": job.task,
        "method": job.method, "seed": job.seed,
        "model": {"path": str(saved.path), "kind": saved.kind, "sha256": saved.sha256, "source": saved.source},
        "examples": int(base.reps.idx.size), "representations_key": base.key,
        "intruder_top_k": int(hp["intruder_top_k"]), "intruder_threshold": float(hp["intruder_threshold"]),
        "layers": as_records(layers), "matrices": as_records(matrices),
        "provenance": {"model_hash": base.model_hash, "data_fingerprint": base.data_fingerprint},
    }


def _compute(ctx: Context, job: Job, run: Run, workflow: Workflow) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics, provenance) of a representations or drift job; writes its file in the job folder."""
    from sweepfirst.engine.job_request import resolve_data_dir
    from sweepfirst.training.outputs import write_json_atomic

    started = time.monotonic()
    data_dir = resolve_data_dir(ctx, run, workflow)
    folder = ctx.job_dir(job.output_dir)
    if job.phase == JobPhase.REPRESENTATIONS.value:
        base = base_representations(ctx, workflow, job.task, data_dir, int(job.hyperparameters["examples"]))
        metrics: dict[str, Any] = {"representations_key": base.key, "examples": int(base.reps.idx.size),
                                   "hidden_states": base.reps.layers}
        # Whether the cache answered is how the job ran, not what it found: a job resumed after a
        # kill finds its own cache. Provenance, then, so results stay equal across interruptions.
        provenance = {"model_hash": base.model_hash, "data_fingerprint": base.data_fingerprint,
                      "cached": base.cached}
        write_json_atomic(folder / REPRESENTATIONS_FILE, metrics)
    else:
        with ctx.db.session(readonly=True) as session:
            source = job_store.get_job(session, int(job.hyperparameters["source_job"]))
        result = measure_drift(ctx, workflow, job, source, data_dir)
        provenance = result.pop("provenance")
        write_json_atomic(folder / RESULT_FILE, result)
        # All of it, the cosines behind each intruder count included (a few kB): report.json
        # then carries every number without reading job folders.
        metrics = dict(result)
    # `_runtime`, like the Trainer's timings: a wall-clock figure, not a result.
    metrics["drift_runtime"] = time.monotonic() - started
    from sweepfirst.drift.models import best_device

    return metrics, {**provenance, "device": best_device(), "precision": "fp32"}


def execute_drift_job(ctx: Context, lease: Lease, job: Job, run: Run, workflow: Workflow) -> JobEvent:
    """Run a representations or drift job under its lease and record how it ended."""
    from sweepfirst.engine.heartbeat import Heartbeat
    from sweepfirst.engine.job_endings import classify_error, end_attempt, finish

    heartbeat = Heartbeat(ctx.db, lease, lease_seconds=workflow.training.lease_seconds)
    try:
        with heartbeat:
            metrics, provenance = _compute(ctx, job, run, workflow)
    except LeaseLost:
        return JobEvent.CRASHED
    except BaseException as error:  # noqa: BLE001 -- any failure of the analysis is recorded
        if isinstance(error, KeyboardInterrupt):
            return end_attempt(ctx, lease, Ending.INTERRUPTED, reason="interrupted")
        message = error.message if isinstance(error, SweepfirstError) else f"{type(error).__name__}: {error}"
        log.error("job %s: %s", lease.job_id, message)
        tail = "".join(traceback.format_exception(error)[-8:])
        return end_attempt(ctx, lease, classify_error(error), reason=message + "\n" + tail)
    return finish(ctx, lease, JobEvent.SUCCEEDED, metrics=metrics, score=None, provenance=provenance)
