"""On a real GPU: bf16 chosen by `precision: auto`, worker processes pinned to their devices, and
real jobs sharing one GPU (`--jobs-per-gpu`). `benchmarks/gpu_check.sh` runs these (`-m gpu`).

They skip without CUDA. SWEEPFIRST_GPU_TESTS_ON_CPU=1 runs them on a CPU anyway (GPU ids are then
bookkeeping and fp32 is expected), which is how their own logic was checked on a machine without
a GPU.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from noop_jobs import REPO_ROOT

from sweepfirst.engine.orchestrate import create_train_run
from sweepfirst.methods import complete_hyperparameters, get_method
from sweepfirst.spec import load_workflow
from sweepfirst.states import JobState
from sweepfirst.store import jobs as job_store
from sweepfirst.store.context import Context


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


ON_CPU = os.environ.get("SWEEPFIRST_GPU_TESTS_ON_CPU") == "1"
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not ON_CPU and not _cuda(), reason="needs a CUDA GPU (benchmarks/gpu_check.sh)"),
]
PROBE = Path(__file__).parent / "probe"


def _gpu_ids() -> list[str]:
    import torch

    return [str(i) for i in range(torch.cuda.device_count())] if _cuda() else ["0"]


def _worker(tmp_path: Path, *args: str, probe: bool, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPFIRST_", "CUDA_"))}
    path = [str(PROBE)] if probe else []
    environment.update(PYTHONPATH=os.pathsep.join([*path, str(REPO_ROOT)]), HF_HUB_OFFLINE="1",
                       WANDB_MODE="disabled", SWEEPFIRST_PROBE="1" if probe else "0", **env)
    return subprocess.run(
        [sys.executable, "-m", "sweepfirst.cli.app", "worker", "--poll-seconds", "0.2",
         "--state-dir", str(tmp_path / "state"), "--artifacts", str(tmp_path / "artifacts"), *args],
        env=environment, capture_output=True, text=True, timeout=240, check=False,
    )


def _synthetic_mrpc(folder: Path, rows: int = 96) -> Path:
    """A glue_data-layout MRPC of made-up pairs: the data need not mean anything, only train."""
    words = ["the", "a", "model", "trains", "on", "words", "of", "every", "length", "and", "some", "pairs", "say", "the", "same", "thing"]
    lines = ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"]
    for i in range(rows):
        first = " ".join(words[(i + k) % len(words)] for k in range(6 + i % 9))
        second = first if i % 2 else " ".join(reversed(first.split()))
        lines.append(f"{i % 2}\t{2 * i}\t{2 * i + 1}\t{first}.\t{second}.")
    (folder / "MRPC").mkdir(parents=True)
    for name in ("train.tsv", "dev.tsv"):
        (folder / "MRPC" / name).write_text("\n".join(lines) + "\n")
    return folder


def test_auto_precision_is_bf16_on_a_gpu_that_has_it() -> None:
    import torch

    from sweepfirst.training.arguments import resolve_precision

    expected = "bf16" if _cuda() and torch.cuda.is_bf16_supported() else "fp32"
    assert resolve_precision("auto") == expected


def test_each_job_process_sees_only_the_gpu_it_was_given(tmp_path: Path) -> None:
    """Every GPU x 2 jobs: each process sees exactly one device, the one nvidia-smi lists under
    the index it was given."""
    import json

    from test_jobs_per_gpu import _probe_run

    gpus = _gpu_ids()
    ctx = Context.open(state_dir=tmp_path / "state", artifacts=tmp_path / "artifacts")
    run_id = _probe_run(ctx, 4 * len(gpus))
    done = _worker(tmp_path, "--gpus", ",".join(gpus), "--jobs-per-gpu", "2", probe=True,
                   SWEEPFIRST_PROBE_SLEEP="1.0", SWEEPFIRST_PROBE_CUDA="1")
    assert done.returncode == 0, done.stdout + done.stderr
    with ctx.db.session() as session:
        jobs = job_store.list_jobs(session, run_id)
    probes = [json.loads((ctx.job_dir(j.output_dir) / "probe.json").read_text()) for j in jobs]
    per_gpu: dict[str, set[int]] = defaultdict(set)
    for probe in probes:
        per_gpu[probe["cuda_visible_devices"]].add(probe["pid"])
        if not ON_CPU:
            assert probe["device_count"] == 1, probe
    assert sorted(per_gpu) == sorted(gpus) and all(len(p) <= 2 for p in per_gpu.values()), per_gpu
    smi = shutil.which("nvidia-smi")
    if smi and not ON_CPU:
        listed = subprocess.run([smi, "--query-gpu=index,uuid", "--format=csv,noheader"], capture_output=True,
                                text=True, check=True).stdout
        uuids = dict(line.replace(" ", "").split(",", 1) for line in listed.strip().splitlines())
        for probe in probes:
            if probe.get("device_uuid"):
                assert probe["device_uuid"] == uuids[probe["cuda_visible_devices"]], (probe, uuids)


def test_two_real_jobs_share_one_gpu_in_bf16(tmp_path: Path, tiny_bert_dir: Path) -> None:
    import torch

    data = _synthetic_mrpc(tmp_path / "glue")
    ctx = Context.open(state_dir=tmp_path / "state", artifacts=tmp_path / "artifacts", data_dir=data)
    workflow = load_workflow(REPO_ROOT / "workflows" / "smoke.yaml", [
        f"model={tiny_bert_dir}", "data.source=local", "data.max_train_samples=64", "data.max_eval_samples=32",
        "data.max_seq_length=32", "training.precision=auto", "wandb.mode=disabled",
    ]).restricted(["mrpc"], ["full_finetune"])
    hyperparameters = complete_hyperparameters(get_method("full_finetune"), {
        "learning_rate": 1e-4, "per_device_train_batch_size": 8, "num_train_epochs": 2})
    runs = [create_train_run(ctx, workflow, task="mrpc", method="full_finetune", seed=seed,
                             hyperparameters=hyperparameters) for seed in (1, 2)]
    done = _worker(tmp_path, "--gpus", "0", "--jobs-per-gpu", "2", "--data-dir", str(data), probe=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    expected = ("bf16", "cuda:0") if _cuda() and torch.cuda.is_bf16_supported() else ("fp32", "cpu")
    with ctx.db.session() as session:
        jobs = [job for run in runs for job in job_store.list_jobs(session, run.id)]
    for job in jobs:
        assert job.state == JobState.SUCCEEDED.value, job.error
        assert (job.provenance.get("precision"), job.provenance.get("device")) == expected, job.provenance
