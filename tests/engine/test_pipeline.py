"""The whole pipeline on a tiny real model: sweep -> analysis -> production -> report."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from sweepfirst.cli.app import app
from sweepfirst.states import JobPhase, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_run_goes_through_every_phase_and_exports_the_choice(tmp_path: Path, tiny_workflow, tiny_glue_dir: Path) -> None:
    workflow = tiny_workflow()
    state = tmp_path / "state"
    code, output = _run("run", str(workflow), "--in-process", "--state-dir", str(state), "--data-dir", str(tiny_glue_dir))
    assert code == 0, output
    ctx = Context.open(state_dir=state)
    with ctx.db.session() as session:
        run = run_store.find_run(session)
        assert run.phase == Phase.COMPLETED.value
        jobs = job_store.list_jobs(session, run.id)
        sweep = [j for j in jobs if j.phase == JobPhase.SWEEP.value]
        production = [j for j in jobs if j.phase == JobPhase.PRODUCTION.value]
        chosen = run_store.selections(session, run.id)
    assert len(sweep) == 4 and len(production) == 4
    assert all(j.state == "succeeded" for j in jobs)
    assert set(chosen) == {("mrpc", "full_finetune"), ("mrpc", "lora")}
    # Each choice states how sure it is, from its trials' predictions on the selection split.
    for selection in chosen.values():
        certainty = selection.metrics["selection_uncertainty"]
        assert certainty["comparison"] is not None, certainty["note"]
        assert [i["examples"] for i in certainty["intervals"]] == [certainty["comparison"]["examples"]] * 2
        assert "against runner-up" in output
    # Production uses exactly the chosen configuration, on every production seed.
    for job in production:
        assert job.hyperparameters == chosen[(job.task, job.method)].hyperparameters
    assert sorted({j.seed for j in production}) == [42, 1337]
    # Sweep jobs scored on the selection split, production on dev: both recorded per job.
    run_dir = ctx.run_dir(run.name)
    exported = yaml.safe_load((run_dir / "optimal_hyperparameters.yaml").read_text())
    cell = exported["optimal_hyperparameters"]["mrpc"]["lora"]
    assert set(cell["hyperparameters"]) >= {"learning_rate", "per_device_train_batch_size", "warmup_ratio",
                                            "num_train_epochs", "lora_r", "lora_alpha", "lora_dropout"}
    assert "eval_accuracy" in cell["expected_performance"] and "eval_f1" in cell["expected_performance"]
    assert "selection split" in cell["measured_on"]
    shell = (run_dir / "optimal_hyperparams.sh").read_text()
    for name in ("MRPC_FULLFINETUNE_LR", "MRPC_FULLFINETUNE_BS", "MRPC_FULLFINETUNE_WU", "MRPC_FULLFINETUNE_EPOCHS",
                 "MRPC_LORA_LR", "MRPC_LORA_R", "MRPC_LORA_ALPHA", "MRPC_LORA_DROPOUT"):
        assert f"export {name}=" in shell
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {(s["task"], s["method"]) for s in summary} == {("mrpc", "full_finetune"), ("mrpc", "lora")}
    # Running the same workflow again continues nothing and duplicates nothing: a new run starts.
    code, output = _run("status", "--state-dir", str(state), "--json")
    assert code == 0 and json.loads(output)["phase"] == "completed"


def test_phases_one_at_a_time_and_production_refuses_before_analysis(tmp_path: Path, tiny_workflow, tiny_glue_dir: Path) -> None:
    workflow = tiny_workflow()
    common = ["--in-process", "--state-dir", str(tmp_path / "s"), "--data-dir", str(tiny_glue_dir)]
    code, output = _run("run", str(workflow), "--phase", "production", *common)
    assert code != 0 and "--optimal-config" in output
    code, output = _run("run", str(workflow), "--phase", "sweep", *common)
    assert code == 0, output
    code, output = _run("run", str(workflow), "--phase", "production", *common)
    assert code != 0 and "analysis" in output
    code, output = _run("run", str(workflow), "--phase", "analysis", *common)
    assert code == 0, output
    code, output = _run("analyze", "--export-optimal-configs", "--output-dir", str(tmp_path / "exports"),
                        "--state-dir", str(tmp_path / "s"))
    assert code == 0, output
    assert (tmp_path / "exports" / "optimal_hyperparameters.yaml").is_file()
    code, output = _run("run", str(workflow), "--phase", "production", *common)
    assert code == 0, output
    ctx = Context.open(state_dir=tmp_path / "s")
    with ctx.db.session() as session:
        assert run_store.find_run(session).phase == Phase.COMPLETED.value
        assert len(run_store.list_runs(session)) == 1


def test_production_from_an_optimal_config_file_skips_the_sweep(tmp_path: Path, tiny_workflow, tiny_glue_dir: Path) -> None:
    config = tmp_path / "optimal.yaml"
    config.write_text(yaml.safe_dump({"optimal_hyperparameters": {"mrpc": {
        "full_finetune": {"hyperparameters": {"learning_rate": 5.0e-4, "per_device_train_batch_size": 8,
                                              "warmup_ratio": 0.0, "num_train_epochs": 1}},
        "lora": {"hyperparameters": {"learning_rate": 2.0e-3, "per_device_train_batch_size": 8, "warmup_ratio": 0.0,
                                     "num_train_epochs": 1, "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0}},
    }}}))
    code, output = _run("run", str(tiny_workflow()), "--phase", "production", "--optimal-config", str(config),
                        "--in-process", "--state-dir", str(tmp_path / "s"), "--data-dir", str(tiny_glue_dir))
    assert code == 0, output
    ctx = Context.open(state_dir=tmp_path / "s")
    with ctx.db.session() as session:
        run = run_store.find_run(session)
        jobs = job_store.list_jobs(session, run.id)
    assert run.phase == "completed"
    # The drift phase adds the base representations and one drift job per production model.
    assert {j.phase for j in jobs} == {"production", "representations", "drift"}
    assert len([j for j in jobs if j.phase == "production"]) == 4


def test_train_records_one_job(tmp_path: Path, tiny_workflow, tiny_glue_dir: Path) -> None:
    code, output = _run("train", "--task", "mrpc", "--method", "lora", "--seed", "42", "--learning-rate", "1e-3",
                        "--batch-size", "8", "--warmup-ratio", "0.06", "--epochs", "1", "--lora-r", "4",
                        "--lora-alpha", "8", "--lora-dropout", "0.05", "--workflow", str(tiny_workflow()),
                        "--in-process", "--state-dir", str(tmp_path / "s"), "--data-dir", str(tiny_glue_dir))
    assert code == 0, output
    code, output = _run("jobs", "list", "--json", "--state-dir", str(tmp_path / "s"))
    (job,) = json.loads(output)
    assert (job["phase"], job["task"], job["method"], job["seed"], job["state"]) == ("train", "mrpc", "lora", 42, "succeeded")
    assert job["hyperparameters"]["lora_dropout"] == 0.05 and "eval_accuracy" in job["metrics"]
    assert {"id", "phase", "task", "method", "seed", "state", "attempts", "metrics"} <= set(job)
