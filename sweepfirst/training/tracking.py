"""Weights & Biases for one job: one W&B run per job, continued (not duplicated) on resume.

We start the run ourselves instead of letting transformers' ``WandbCallback`` do it from
environment variables: that callback only reads ``WANDB_PROJECT`` and the run name, while a job
also needs its entity, group, job type, tags and a stable run id with ``resume="allow"``. The
callback sees the run we started (``wandb.run``) and logs into it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sweepfirst.training.request import WandbSettings

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def wandb_run(settings: WandbSettings, output_dir: Path, config: dict[str, Any]) -> Iterator[Any]:
    """Start the job's W&B run for the duration of the block (yields None when disabled).

    W&B's local files go to ``output_dir/wandb`` so everything of a job stays in its folder. The
    run is finished when the block ends; an interrupted job that is called again resumes the same
    run through its ``run_id``.
    """
    if not settings.enabled:
        yield None
        return
    import wandb

    wandb_dir = Path(output_dir)
    wandb_dir.mkdir(parents=True, exist_ok=True)
    # WANDB_DIR too, for wandb code paths that read the environment rather than init()'s `dir`.
    previous_dir = os.environ.get("WANDB_DIR")
    os.environ["WANDB_DIR"] = str(wandb_dir)
    run = wandb.init(
        project=settings.project,
        entity=settings.entity,
        group=settings.group,
        job_type=settings.job_type,
        name=settings.name,
        id=settings.run_id,
        resume="allow" if settings.run_id else None,
        tags=list(settings.tags) or None,
        dir=str(wandb_dir),
        mode=settings.mode,
        config=config,
        reinit="finish_previous",
    )
    exit_code = 1
    try:
        yield run
        exit_code = 0
    finally:
        run.finish(exit_code=exit_code)
        if previous_dir is None:
            os.environ.pop("WANDB_DIR", None)
        else:
            os.environ["WANDB_DIR"] = previous_dir
