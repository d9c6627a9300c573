"""A real (tiny BERT) job whose worker dies with SIGKILL finishes on another worker from its checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from noop_jobs import REPO_ROOT

from sweepfirst.engine.orchestrate import create_train_run
from sweepfirst.methods import complete_hyperparameters, get_method
from sweepfirst.spec import load_workflow
from sweepfirst.states import JobEvent, JobState, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context


def _worker(tmp_path: Path, glue_dir: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEEPFIRST_")}
    log = (tmp_path / "workers.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "sweepfirst.cli.app", "worker", "--poll-seconds", "0.2",
         "--state-dir", str(tmp_path / "state"), "--artifacts", str(tmp_path / "artifacts"),
         "--data-dir", str(glue_dir)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,  # its own process group
    )


@pytest.mark.slow
def test_a_sigkilled_workers_job_resumes_on_another_worker(tmp_path: Path, tiny_bert_dir: Path,
                                                            glue_dir: Path) -> None:
    ctx = Context.open(state_dir=tmp_path / "state", artifacts=tmp_path / "artifacts", data_dir=glue_dir)
    workflow = load_workflow(REPO_ROOT / "workflows" / "smoke.yaml", [
        f"model={tiny_bert_dir}", "data.source=local", "data.max_train_samples=160", "data.max_eval_samples=16",
        "data.max_seq_length=32", "training.evaluations_per_epoch=4", "training.lease_seconds=10",
    ]).restricted(["mrpc"], ["full_finetune"])
    hyperparameters = complete_hyperparameters(get_method("full_finetune"), {
        "learning_rate": 1e-4, "per_device_train_batch_size": 4, "num_train_epochs": 3})
    run = create_train_run(ctx, workflow, task="mrpc", method="full_finetune", seed=42,
                           hyperparameters=hyperparameters)
    with ctx.db.session() as session:
        (job,) = job_store.list_jobs(session, run.id)
    output = ctx.job_dir(job.output_dir)

    first = _worker(tmp_path, glue_dir)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and first.poll() is None:
        if output.is_dir() and any(p.name.startswith("checkpoint-") for p in output.iterdir()):
            break
        time.sleep(0.1)
    assert first.poll() is None, (tmp_path / "workers.log").read_text()[-3000:]
    assert any(p.name.startswith("checkpoint-") for p in output.iterdir()), "no checkpoint was written"
    os.killpg(first.pid, signal.SIGKILL)  # the worker and its job process: a machine lost at once
    first.wait()

    second = _worker(tmp_path, glue_dir)
    assert second.wait(timeout=600) == 0, (tmp_path / "workers.log").read_text()[-3000:]
    with ctx.db.session() as session:
        events = [e.event for e in job_store.job_events(session, job.id)]
        finished = job_store.get_job(session, job.id)
        phase = run_store.find_run(session, run.id).phase
    assert finished.state == JobState.SUCCEEDED.value, events
    # claimed, crashed (its worker is gone), claimed again; a heartbeat starved on a loaded machine
    # could add another crashed/claimed pair, which is still correct.
    assert events[:3] == [JobEvent.CLAIMED.value, JobEvent.CRASHED.value, JobEvent.CLAIMED.value], events
    assert phase == Phase.COMPLETED.value
    record = json.loads((output / "job.json").read_text())
    assert record["resumed_from"], "the job started over instead of continuing from its checkpoint"
