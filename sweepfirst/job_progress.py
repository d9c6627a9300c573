"""``progress.json``: where a running job says how far it got, in its own folder.

The training callback (``sweepfirst.training.callbacks.ProgressFileCallback``) writes it every few seconds and after
every evaluation; the live view, `status --watch` and the time-left estimate read it. It lives in
the job folder, not the database (no schema change), so any process that sees the artifact store
sees the progress of jobs on every worker. Standard library only: readers never import torch.

The file is replaced atomically (``sweepfirst.files``) but not fsynced: it is a progress note, rewritten
every few seconds, and a crash that loses the latest one loses nothing that matters.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from sweepfirst.files import write_atomic

PROGRESS_FILE = "progress.json"
#: Seconds between writes (and between refreshes of the live view); tests make it short.
INTERVAL_VARIABLE = "SWEEPFIRST_PROGRESS_INTERVAL"


def interval_seconds(default: float) -> float:
    """``$SWEEPFIRST_PROGRESS_INTERVAL`` if it is a number, else ``default``."""
    try:
        return max(float(os.environ.get(INTERVAL_VARIABLE, default)), 0.05)
    except ValueError:
        return default


@dataclass(frozen=True)
class JobProgress:
    """One job's progress, as its training loop last wrote it.

    Attributes:
        step / max_steps: optimizer steps done (across resumes) and planned in all.
        epoch: epochs done, fractional (the Trainer's ``state.epoch``).
        num_train_examples: rows of the training split this job trains on.
        eval_split: ``selection`` (sweeps) or ``dev``.
        examples_per_second: training examples per second of this attempt, measured from its
            first step (None until two steps are seen).
        latest_eval: the latest evaluation's metrics (HF names, ``eval_accuracy``, ...), or empty.
        latest_eval_step: the step of that evaluation.
        updated_at: seconds since the epoch when this was written (``time.time()``).
        finished: True once the training loop has ended (the job may still be evaluating).
        train_loss: the training loss at each logging step, ``[step, loss]`` pairs.
    """

    step: int
    max_steps: int
    epoch: float
    num_train_examples: int
    eval_split: str
    examples_per_second: float | None = None
    latest_eval: dict[str, float] | None = None
    latest_eval_step: int | None = None
    updated_at: float = 0.0
    finished: bool = False
    #: [step, training loss] at every logging step of the job so far (the report's train-loss
    #: curve: metrics.json keeps evaluations only).
    train_loss: list[list[float]] | None = None

    @property
    def fraction(self) -> float:
        """Share of the planned steps done, in [0, 1]."""
        return min(max(self.step / self.max_steps, 0.0), 1.0) if self.max_steps > 0 else 0.0


def write_progress(job_dir: Path, progress: JobProgress) -> None:
    """Replace the job's ``progress.json`` (a reader never sees half a file)."""
    # Compact, not json_text's indented form: the train-loss curve grows with every step.
    write_atomic(Path(job_dir) / PROGRESS_FILE, json.dumps(asdict(progress)), durable=False)


def read_progress(job_dir: Path) -> JobProgress | None:
    """The job's latest progress, or None when it has none (not started, an older sweepfirst, or a
    file that does not parse: progress is shown, never guessed)."""
    try:
        data = json.loads((Path(job_dir) / PROGRESS_FILE).read_text(encoding="utf-8"))
        known = {f.name for f in fields(JobProgress)}
        progress = JobProgress(**{k: v for k, v in data.items() if k in known})
        int(progress.step), int(progress.max_steps), int(progress.num_train_examples)
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    return progress
