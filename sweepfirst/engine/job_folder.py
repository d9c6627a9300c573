"""What a job leaves in its output folder besides the training's own files: ``job.json`` (how it
ended, for people and scripts), and no checkpoints once it has succeeded."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sweepfirst.files import write_json_atomic
from sweepfirst.store.models import Job


def write_job_record(output_dir: Path, job: Job, outcome: Mapping[str, Any]) -> None:
    """Write ``job.json``: the job's key and how this attempt ended."""
    record = {"job_id": job.id, "phase": job.phase, "task": job.task, "method": job.method,
              "seed": job.seed, "hyperparameters": job.hyperparameters, **outcome}
    write_json_atomic(output_dir / "job.json", record)


def remove_checkpoints(output_dir: Path) -> None:
    """Free the disk a finished job's resume points take; metrics and predictions stay."""
    for path in output_dir.glob("checkpoint-*"):
        shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(output_dir / ".staging", ignore_errors=True)
