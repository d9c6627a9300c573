"""A job that kills its worker at the same step again and again becomes a poison job (and the run
finishes without it); a sweep phase whose jobs all fail has a way forward (`jobs retry`, then a
bare `resume`). Real worker processes, real SIGKILLs, real raises (see faults/sitecustomize.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import tiny_workflow_dict

from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context

FAULTS = Path(__file__).resolve().parent / "faults"

CHANGES = {
    "data.max_train_samples": 64,
    "seeds.production": [42],
    "training.evaluations_per_epoch": 2,
}


def _cli(*args: str, state: Path, db_url: str | None = None, faults: dict[str, str] | None = None,
         timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPFIRST_FAULT", "SWEEPFIRST_DATA_DIR"))}
    if faults:
        env.update(faults)
        env["PYTHONPATH"] = os.pathsep.join([str(FAULTS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    db = ["--db-url", db_url] if db_url else []
    return subprocess.run([sys.executable, "-m", "sweepfirst.cli.app", *args, "--state-dir", str(state), *db],
                          check=False, env=env, capture_output=True, text=True, timeout=timeout)


def _workflow(tmp_path: Path, tiny_bert_dir: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_workflow_dict(tiny_bert_dir, **CHANGES)))
    return path


def test_a_job_that_kills_its_worker_three_times_at_one_step_is_a_poison_job(
        tmp_path: Path, tiny_bert_dir: Path, tiny_glue_dir: Path) -> None:
    state = tmp_path / "state"
    done = _cli("run", str(_workflow(tmp_path, tiny_bert_dir)), "--data-dir", str(tiny_glue_dir), state=state,
                faults={"SWEEPFIRST_FAULT_KILL_JOB": "1", "SWEEPFIRST_FAULT_KILL_STEP": "3"})
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    ctx = Context.open(state_dir=state)
    with ctx.db.session() as session:
        run = run_store.find_run(session)
        poison = job_store.get_job(session, 1)
        events = [e.event for e in job_store.job_events(session, 1)]
        others = [j for j in job_store.list_jobs(session, run.id) if j.id != 1]
        chosen = run_store.selections(session, run.id)[("mrpc", "full_finetune")]
    assert (poison.phase, poison.method, poison.trial_index) == ("sweep", "full_finetune", 0)
    assert poison.state == "failed" and events == ["claimed", "crashed"] * 2 + ["claimed", "failed"]
    assert "killed its worker 3 times at step 3: likely out of memory; lower the batch size" in (poison.error or "")
    assert "sweepfirst jobs retry 1" in (poison.error or "")
    assert (poison.failures, poison.losses, poison.loss_point) == (0, 3, 3)
    # The rest of the run went on without it, and analysis says what it chose from.
    assert run.phase == "completed"
    assert others and all(j.state == "succeeded" for j in others), [(j.id, j.state) for j in others]
    assert (chosen.trials_planned, chosen.trials_used) == (2, 1)
    assert chosen.lost_trials and chosen.lost_trials[0]["trial"] == 0
    assert "chosen from 1 of 2 planned trials; lost: trial 0 (failed: poison job: killed its worker 3 times" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_failed_sweep_phase_recovers_with_jobs_retry_and_a_bare_resume(
        backend: str, request: pytest.FixtureRequest, tmp_path: Path, tiny_bert_dir: Path,
        tiny_glue_dir: Path) -> None:
    db_url = str(request.getfixturevalue("pg_url")) if backend == "postgresql" else None
    state = tmp_path / "state"
    workflow = _workflow(tmp_path, tiny_bert_dir)
    failed = _cli("run", str(workflow), "--data-dir", str(tiny_glue_dir), state=state, db_url=db_url,
                  faults={"SWEEPFIRST_FAULT_RAISE_METHOD": "lora", "SWEEPFIRST_FAULT_RAISE_STEP": "2"})
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output[-3000:]
    assert "No sweep trial of mrpc/lora succeeded (2 of 2 planned trials lost: trial 0 (failed: " in output
    assert "RuntimeError: injected failure at step 2" in output
    assert "sweepfirst resume --retry-failed" in output and "Traceback" not in output

    listed = _cli("jobs", "list", "--state", "failed", "--json", state=state, db_url=db_url)
    failed_jobs = json.loads(listed.stdout)
    assert [(j["method"], j["failures"], j["attempts"]) for j in failed_jobs] == [("lora", 2, 2)] * 2
    retried = _cli("jobs", "retry", *[str(j["id"]) for j in failed_jobs], state=state, db_url=db_url)
    assert retried.returncode == 0, retried.stderr

    resumed = _cli("resume", state=state, db_url=db_url)  # no --data-dir: the run remembers it
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    ctx = Context.open(state_dir=state, db_url=db_url)
    with ctx.db.session() as session:
        run = run_store.find_run(session)
        moves = [(e.from_phase, e.to_phase) for e in run_store.run_events(session, run.id)]
        jobs = job_store.list_jobs(session, run.id)
    assert run.phase == "completed"
    # Reopened in the sweep (the retried jobs are sweep jobs), then analysis ran again.
    assert moves[moves.index(("analysis", "failed")):] == [
        ("analysis", "failed"), ("failed", "sweep"), ("sweep", "analysis"), ("analysis", "production"),
        ("production", "drift"), ("drift", "report"), ("report", "completed")]
    assert all(j.state == "succeeded" for j in jobs), [(j.id, j.state) for j in jobs]
    assert {j.method for j in jobs if j.phase == "production"} == {"full_finetune", "lora"}
