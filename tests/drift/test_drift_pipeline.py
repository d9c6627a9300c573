"""Sweep -> production -> drift -> report on a tiny real BERT, and `sweepfirst drift` on runs that
finished without a drift phase (kept models, and no models)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import tiny_workflow_dict
from typer.testing import CliRunner

from sweepfirst.cli.app import app
from sweepfirst.states import JobPhase, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context

runner = CliRunner()


def _invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.output


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path, tiny_glue_dir: Path) -> dict[str, Any]:
    """One whole tiny run with its drift phase (shared by the tests below; they only read it)."""
    import torch

    root = tmp_path_factory.mktemp("drift-run")
    workflow = root / "tiny.yaml"
    # One trial per sweep keeps it quick; two production seeds are what the statistics need.
    workflow.write_text(yaml.safe_dump(tiny_workflow_dict(tiny_bert_dir, **{
        "drift.examples": 32, "methods.full_finetune.sweep.run_cap": 1, "methods.lora.sweep.run_cap": 1})))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models run fastest on one thread (see tests/conftest.py)
    state = root / "state"
    try:
        code, _, output = _invoke("run", str(workflow), "--in-process", "--state-dir", str(state),
                                  "--data-dir", str(tiny_glue_dir))
    finally:
        torch.set_num_threads(threads)
    assert code == 0, output
    ctx = Context.open(state_dir=state, create=False)
    with ctx.db.session() as session:
        run = run_store.find_run(session)
        jobs = job_store.list_jobs(session, run.id)
        events = [e.to_phase for e in run_store.run_events(session, run.id)]
        return {"ctx": ctx, "state": state, "run": run, "jobs": jobs, "events": events,
                "run_dir": ctx.run_dir(run.name), "output": output}


def _drift_json(ctx: Context, job: Any) -> dict[str, Any]:
    return json.loads((ctx.job_dir(job.output_dir) / "drift.json").read_text())


def test_the_drift_phase_runs_between_production_and_report(finished_run: dict[str, Any]) -> None:
    run, jobs, events = finished_run["run"], finished_run["jobs"], finished_run["events"]
    assert run.phase == Phase.COMPLETED.value
    assert events.index("production") < events.index("drift") < events.index("report")
    by_phase: dict[str, list[Any]] = {}
    for job in jobs:
        by_phase.setdefault(job.phase, []).append(job)
    assert [j.state for j in by_phase[JobPhase.REPRESENTATIONS.value]] == ["succeeded"]
    production = by_phase[JobPhase.PRODUCTION.value]
    drift = by_phase[JobPhase.DRIFT.value]
    assert len(drift) == len(production) == 4 and all(j.state == "succeeded" for j in drift)
    assert sorted(j.hyperparameters["source_job"] for j in drift) == sorted(j.id for j in production)


def test_production_keeps_its_final_model_and_sweeps_do_not(finished_run: dict[str, Any]) -> None:
    ctx, jobs = finished_run["ctx"], finished_run["jobs"]
    for job in jobs:
        folder = ctx.job_dir(job.output_dir) / "final_model"
        if job.phase == JobPhase.SWEEP.value:
            assert not folder.exists()
        elif job.phase == JobPhase.PRODUCTION.value:
            weights = folder / ("adapter_model.safetensors" if job.method == "lora" else "model.safetensors")
            assert weights.is_file(), sorted(p.name for p in folder.iterdir())
            assert not (folder / "model.safetensors").exists() or job.method != "lora"  # adapter only
            recorded = job.provenance["final_model"]
            assert recorded["sha256"] == _sha256(weights)
            assert recorded["kind"] == ("adapter" if job.method == "lora" else "full")
    assert not list(ctx.artifacts.rglob(".final_model.*"))  # no staging folder left behind


def test_lora_leaves_frozen_layers_exactly_unchanged(finished_run: dict[str, Any]) -> None:
    ctx, jobs = finished_run["ctx"], finished_run["jobs"]
    for job in (j for j in jobs if j.phase == JobPhase.DRIFT.value):
        result = _drift_json(ctx, job)
        embeddings = next(layer for layer in result["layers"] if layer["layer"] == 0)
        matrices = {(m["layer"], m["matrix"]): m for m in result["matrices"]}
        assert len(matrices) == 2 * 6  # 2 layers x (query, key, value, attention out, ffn in, ffn out)
        if job.method == "lora":
            # LoRA trains query/value adapters and the head: the embedding layer is frozen.
            assert embeddings["cka_mean"] == pytest.approx(1.0, abs=1e-6)
            assert embeddings["cka_mean_debiased"] == pytest.approx(1.0, abs=1e-6)
            for (_, matrix), m in matrices.items():
                if matrix in ("query", "value"):
                    assert m["relative_change"] > 0 and 0 < m["effective_rank"] <= 4 + 1e-9  # lora_r 4
                else:
                    assert m["relative_change"] == 0.0 and m["effective_rank"] == 0.0 and m["intruders"] == 0
        else:
            # Full fine-tuning moves the embeddings too: the check above can fail.
            assert embeddings["cka_mean"] < 1.0 - 1e-6
            assert all(m["relative_change"] > 0 for m in matrices.values())


def test_the_report_carries_every_drift_number_and_the_saved_models(finished_run: dict[str, Any]) -> None:
    ctx, jobs, run_dir = finished_run["ctx"], finished_run["jobs"], finished_run["run_dir"]
    report = json.loads((run_dir / "report" / "report.json").read_text())
    html = (run_dir / "report" / "report.html").read_text()
    assert "How the model changed" in html
    drift = report["drift"]
    drift_jobs = {f"job {j.id}": j for j in jobs if j.phase == JobPhase.DRIFT.value}
    assert {r["job_name"] for r in drift["runs"]} == set(drift_jobs)
    for recorded in drift["runs"]:
        on_disk = _drift_json(ctx, drift_jobs[recorded["job_name"]])
        assert recorded["layers"] == on_disk["layers"]
        assert [m["relative_change"] for m in recorded["matrices"]] == [m["relative_change"] for m in on_disk["matrices"]]
    (task,) = drift["tasks"]
    lora = next(m for m in task["methods"] if m["method"] == "lora")
    assert lora["layers"][0]["cka"]["cka_mean"]["mean"] == pytest.approx(1.0, abs=1e-6)
    (comparison,) = task["comparisons"]
    assert len(comparison["cka_by_layer"]) == 3 and comparison["intruders_total"]["sentence"]
    saved = report["provenance"]["saved_models"]
    production = [j for j in jobs if j.phase == JobPhase.PRODUCTION.value]
    assert sorted(m["job_name"] for m in saved) == sorted(f"job {j.id}" for j in production)
    for model in saved:
        assert model["sha256"] and model["path"].endswith("final_model")
        assert model["sha256"] in html


def test_drift_cli_shows_a_finished_run(finished_run: dict[str, Any]) -> None:
    code, stdout, output = _invoke("drift", "--json", "--state-dir", str(finished_run["state"]))
    assert code == 0, output
    shown = json.loads(stdout)
    report = json.loads((finished_run["run_dir"] / "report" / "report.json").read_text())
    assert shown["tasks"] == report["drift"]["tasks"]


def _production_only_run(root: Path, tiny_bert_dir: Path, tiny_glue_dir: Path, **training: Any) -> Path:
    """A run like one from before drift analysis: production only, no drift phase."""
    workflow = tiny_workflow_dict(tiny_bert_dir, **{"drift": False, "seeds.production": [42],
                                                   **{f"training.{k}": v for k, v in training.items()}})
    workflow["methods"] = {"lora": workflow["methods"]["lora"]}
    (root / "tiny.yaml").write_text(yaml.safe_dump(workflow))
    chosen = {"optimal_hyperparameters": {"mrpc": {"lora": {"hyperparameters": {
        "learning_rate": 2.0e-3, "per_device_train_batch_size": 8, "num_train_epochs": 1,
        "lora_r": 4, "lora_alpha": 8}}}}}
    (root / "chosen.yaml").write_text(yaml.safe_dump(chosen))
    state = root / "state"
    code, _, output = _invoke("run", str(root / "tiny.yaml"), "--phase", "production", "--optimal-config",
                              str(root / "chosen.yaml"), "--in-process", "--state-dir", str(state),
                              "--data-dir", str(tiny_glue_dir))
    assert code == 0, output
    assert "drift skipped: the workflow sets drift: false" in output
    return state


def test_drift_on_an_old_run_without_models_is_refused_in_one_sentence(tmp_path: Path, tiny_bert_dir: Path, tiny_glue_dir: Path,
                                                                      one_torch_thread: None) -> None:
    state = _production_only_run(tmp_path, tiny_bert_dir, tiny_glue_dir, save_final_model=False)
    code, _, output = _invoke("drift", "--in-process", "--state-dir", str(state))
    assert code != 0
    assert "kept none of its 1 production models" in output and "training.save_final_model: true" in output
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1
    ctx = Context.open(state_dir=state, create=False)
    with ctx.db.session() as session:
        assert run_store.find_run(session).phase == Phase.COMPLETED.value  # nothing changed


def test_drift_on_an_old_run_that_kept_its_checkpoints(tmp_path: Path, tiny_bert_dir: Path, tiny_glue_dir: Path,
                                                       one_torch_thread: None) -> None:
    # Before final models existed, `keep_checkpoints: true` was the way a run kept its models.
    state = _production_only_run(tmp_path, tiny_bert_dir, tiny_glue_dir, save_final_model=False,
                                 keep_checkpoints=True)
    code, stdout, output = _invoke("drift", "--in-process", "--state-dir", str(state))
    assert code == 0, output
    assert "debiased CKA to the base" in stdout
    ctx = Context.open(state_dir=state, create=False)
    with ctx.db.session() as session:
        run = run_store.find_run(session)
        (drift,) = job_store.list_jobs(session, run.id, phase=JobPhase.DRIFT)
        assert run.phase == Phase.COMPLETED.value and drift.state == "succeeded"
        assert drift.metrics["model"]["source"].startswith("checkpoint-")
        assert drift.metrics["layers"][0]["cka_mean"] == pytest.approx(1.0, abs=1e-6)
    assert "How the model changed" in (ctx.run_dir(run.name) / "report" / "report.html").read_text()
