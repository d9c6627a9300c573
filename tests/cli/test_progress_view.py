"""The live view of `run`: per-job lines with step counts and an ETA on a terminal, plain
periodic lines through a pipe. Both read the job's own progress.json, as any other process would."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from sweepfirst.cli import console
from sweepfirst.cli.app import app

runner = CliRunner()
#: One sweep trial of 16 steps (64 examples, batch 8, 2 epochs) on a tiny BERT.
STEP = re.compile(r"job \d+ sweep mrpc/lora trial 0 seed 0, step (\d+)/16, epoch [\d.]+")


def _workflow(path: Path, model: Path) -> Path:
    raw: dict[str, Any] = {
        "name": "progress", "model": str(model), "tasks": ["mrpc"],
        "methods": {"lora": {"sweep": {"method": "grid", "parameters": {
            "learning_rate": {"values": [1.0e-3]}, "per_device_train_batch_size": {"value": 8},
            "num_train_epochs": {"value": 2}, "lora_r": {"value": 4}, "lora_alpha": {"value": 8}}}}},
        "seeds": {"sweep": [0], "production": [1]},
        "data": {"source": "local", "max_seq_length": 32, "max_train_samples": 64, "max_eval_samples": 32},
        "training": {"evaluations_per_epoch": 2, "save_checkpoints": False},
        "wandb": {"mode": "disabled"}, "drift": False,
    }
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_terminal_sees_a_line_per_running_job_with_steps_and_an_eta(
        tmp_path: Path, tiny_bert_dir: Path, glue_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=buffer, force_terminal=True, width=200))
    monkeypatch.setenv("SWEEPFIRST_PROGRESS_INTERVAL", "0.05")
    workflow = _workflow(tmp_path / "wf.yaml", tiny_bert_dir)
    result = runner.invoke(app, ["run", str(workflow), "--phase", "sweep", "--in-process",
                                 "--data-dir", str(glue_dir), "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 0, result.output + buffer.getvalue()
    screen = buffer.getvalue()
    assert "\x1b[" in screen  # drawn as a terminal: cursor movement, not plain lines
    steps = [int(m.group(1)) for m in STEP.finditer(screen)]
    assert any(step > 0 for step in steps), screen[-3000:]
    assert re.search(r"step \d+/16, epoch [\d.]+, (accuracy [\d.]+, )?[\d.]+ ex/s, ETA \d+m\d\ds", screen)
    assert re.search(r"sweep .*\d/1 jobs", screen)  # the phase's bar and count
    # What the view read: the job's own progress.json, which stays in its folder for the report.
    (note,) = (tmp_path / "state").glob("runs/*/jobs/sweep/mrpc/lora/*/progress.json")
    progress = json.loads(note.read_text())
    assert (progress["step"], progress["max_steps"], progress["num_train_examples"]) == (16, 16, 64)
    assert progress["finished"] and [step for step, _ in progress["train_loss"]] == [4, 8, 12, 16]


def test_a_pipe_gets_plain_periodic_lines(
        tmp_path: Path, tiny_bert_dir: Path, glue_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Not a terminal (a file, as for CI logs or nohup): rich sees no tty, so the view prints plain
    # lines. In-process, as the terminal test, to spare the test a second torch import.
    buffer = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=buffer, width=200))
    monkeypatch.setenv("SWEEPFIRST_PROGRESS_INTERVAL", "0.05")
    assert not console.err.is_terminal
    workflow = _workflow(tmp_path / "wf.yaml", tiny_bert_dir)
    result = runner.invoke(app, ["run", str(workflow), "--phase", "sweep", "--in-process",
                                 "--data-dir", str(glue_dir), "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 0, result.output + buffer.getvalue()
    log = buffer.getvalue()
    assert "\x1b[" not in log  # no cursor movement or colour in a log file
    stamped = [line for line in log.splitlines() if re.match(r"^\[\d\d:\d\d:\d\d\] ", line)]
    job_lines = [line for line in stamped if STEP.search(line)]
    assert len(job_lines) >= 2, log[-3000:]  # periodic, not once
    assert any(re.search(r"ETA (\d+m\d\ds|unknown)$", line) for line in job_lines)
    assert any("sweep: " in line and "jobs done" in line for line in stamped)


def test_status_watch_shows_a_run_driven_elsewhere_and_ends_with_it(tmp_path: Path) -> None:
    """A run recorded by another process, completed: --watch prints its view once and exits."""
    import datetime as dt

    from sweepfirst.states import JobEvent, JobPhase, Phase
    from sweepfirst.store import jobs as job_store
    from sweepfirst.store import runs as run_store
    from sweepfirst.store.context import Context

    ctx = Context.open(state_dir=tmp_path / "state")
    with ctx.db.session() as session:
        run = run_store.create_run(session, name="elsewhere", workflow_name="w",
                                   spec={"tasks": ["mrpc"], "methods": {}}, spec_hash="h")
        job_store.ensure_jobs(session, run.id, [job_store.JobSpec(
            JobPhase.TRAIN, "mrpc", "lora", {"num_train_epochs": 1}, 0, "runs/elsewhere/jobs/train")])
        claimed = job_store.claim_next_job(session, run_ids=[run.id], lease_seconds=60,
                                           owner="other-host:1")
        assert claimed is not None
        job_store.finish_job(session, claimed[1], JobEvent.SUCCEEDED, score=0.8)
        run_store.transition_run(session, run.id, Phase.PRODUCTION, detail="test")
        run_store.transition_run(session, run.id, Phase.REPORT, detail="test")
        run_store.transition_run(session, run.id, Phase.COMPLETED, detail="test")
    ctx.db.dispose()
    started = dt.datetime.now()
    result = runner.invoke(app, ["status", "--watch", "--interval", "0.2", "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 0, result.output
    assert (dt.datetime.now() - started).total_seconds() < 30
    assert re.search(r"^\[\d\d:\d\d:\d\d\] run elsewhere: phase completed, .*nothing left$", result.output, re.MULTILINE)
    assert re.search(r"^\[\d\d:\d\d:\d\d\]   train: 1/1 jobs done, ETA done$", result.output, re.MULTILINE)
