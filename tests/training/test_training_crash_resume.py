"""A worker killed with SIGKILL (OOM killer, preemption, kill -9) loses at most the work since its
last checkpoint, and never leaves a half-written checkpoint that resume would pick as latest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from training_support import RequestFactory

from sweepfirst.training import TrainingRequest
from sweepfirst.training.checkpoints import (
    STAGING_DIRNAME,
    latest_checkpoint,
    list_checkpoints,
    prune_checkpoints,
    publish,
)
from sweepfirst.training.runner import run_training

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
SCRIPT = HERE / "train_job_script.py"


def spawn(request: TrainingRequest, mode: str, arg: str) -> subprocess.Popen[str]:
    spec = {k: v for k, v in request.to_json().items() if k != "wandb"}
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), json.dumps(spec), mode, arg],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_latest_checkpoint_ignores_incomplete_and_foreign_folders(tmp_path: Path) -> None:
    for step in (2, 4, 6):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"x")
        if step != 6:  # checkpoint-6 lacks trainer_state.json: cut short, not a resume record
            (folder / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-10.tmp").mkdir()
    (tmp_path / STAGING_DIRNAME / "abc" / "checkpoint-8").mkdir(parents=True)
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint-4"
    prune_checkpoints(tmp_path, keep=1)
    assert [c.name for c in list_checkpoints(tmp_path)] == ["checkpoint-4"]
    assert (tmp_path / "checkpoint-6").is_dir()  # not ours to delete

    staged = tmp_path / STAGING_DIRNAME / "new" / "checkpoint-4"
    staged.mkdir(parents=True)
    (staged / "trainer_state.json").write_text('{"new": true}')
    publish(staged, tmp_path / "checkpoint-4")  # the same step saved again replaces it
    assert (tmp_path / "checkpoint-4" / "trainer_state.json").read_text() == '{"new": true}'
    assert not staged.exists()


def test_sigkill_in_the_middle_of_a_save_never_leaves_a_broken_latest_checkpoint(
    make_request: RequestFactory,
) -> None:
    request = make_request("crash-mid-save")
    child = spawn(request, "crash-mid-save", "4")
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL, stderr[-2000:]

    out = request.output_dir
    # The step-4 save died after writing the model and optimizer: that half-written folder is
    # in staging, invisible to resume; the latest checkpoint is the complete one of step 2.
    partial = list((out / STAGING_DIRNAME).glob("*/checkpoint-4"))
    assert len(partial) == 1 and (partial[0] / "optimizer.pt").is_file()
    assert not (partial[0] / "trainer_state.json").exists()
    assert not (out / "checkpoint-4").exists()
    assert latest_checkpoint(out) == out / "checkpoint-2"

    result = run_training(request)
    assert result.status == "completed"
    assert result.resumed_from == str(out / "checkpoint-2")
    assert result.global_step == 8
    assert not (out / STAGING_DIRNAME).exists()


# Marked slow only because it starts a second child process (~6-15 s of torch imports); the
# deterministic mid-save test above already covers SIGKILL + resume in every default run.
@pytest.mark.slow
def test_sigkill_during_training_then_resume_finishes_the_same_schedule(
    make_request: RequestFactory,
) -> None:
    request = make_request("killed", evaluations_per_epoch=2)
    child = spawn(request, "slow", "0.2")
    deadline = time.monotonic() + 120
    # Kill it at a random-ish moment after its first checkpoint: mid-step or mid-save alike.
    while latest_checkpoint(request.output_dir) is None:
        assert child.poll() is None, child.communicate()[1][-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL

    killed_at = latest_checkpoint(request.output_dir)
    assert killed_at is not None
    result = run_training(request)
    assert result.status == "completed"
    assert result.resumed_from == str(killed_at)
    assert result.global_step == 8  # 4 steps per epoch, 2 epochs: the same as uninterrupted
    assert [h["step"] for h in result.history] == [2, 4, 6, 8]
