"""`sweepfirst plan`: every real W&B sweep file planned or refused in one sentence; no traceback.

The files are the 141 real sweep configs in ``shared/data/wandb_sweeps`` (PROVENANCE.md there),
each handed to a small workflow as ``--sweep-config`` for one method, as a user would.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from sweepfirst.cli.app import app

runner = CliRunner()
SHARED = Path(os.environ.get("SWEEPFIRST_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
SWEEPS = SHARED / "wandb_sweeps"

#: The fine-tuning sweeps among them, the method each is for, and the parameter_names map it
#: needs (None: it plans unchanged). Why each map: its metric is one its own script logs
#: (target_test/f1 on its test split, a MedQA accuracy, hellaswag perplexity) -> the task's own;
#: `shuffle` has no TrainingArguments field (the Trainer always shuffles); model_name_or_path
#: names the model that sweep was for (OPT-1.3b), not the workflow's.
FINE_TUNING: dict[str, tuple[str, dict[str, Any] | None]] = {
    "EmanueleDeRossi1__Thesis-PEFT/config/ft_sweep_config.yaml": ("full_finetune", {"target_test/f1": "eval_f1"}),
    "EmanueleDeRossi1__Thesis-PEFT/config/lora_sweep_config.yaml": (
        "lora", {"target_test/real_f1": "eval_f1", "shuffle": None}),
    "Girjoaba__apertus-finetuning-pipeline/configs/sweep.yaml": (
        "lora", {"eval_medqa_mcq_accuracy": "eval_accuracy"}),
    "AlekseyKorshuk__dalio-finetuner/sweep.yaml": ("full_finetune", {"model_name_or_path": None}),
    "AlekseyKorshuk__dalio-finetuner/hellaswag_sweep.yaml": (
        "full_finetune", {"model_name_or_path": None, "hellaswag/perplexity": "eval_loss"}),
    "MartinH2k3__SLM-NER/src/sweep_config.yaml": ("lora", None),
    "MartinH2k3__SLM-NER/assets/sweep_configurations/parameter_sweep_loss.yaml": ("lora", None),
    "MartinH2k3__SLM-NER/assets/sweep_configurations/phi35_sweep_f1.yaml": ("lora", None),
    "MartinH2k3__SLM-NER/assets/sweep_configurations/phi3mini_sweep_f1.yaml": ("lora", None),
}


def small_workflow(path: Path, method: str, parameter_names: dict[str, Any] | None = None) -> Path:
    design: dict[str, Any] = {
        "name": "plan-probe", "model": "bundled-minilm", "tasks": ["mrpc"],
        "methods": {method: {"sweep": {"method": "random", "parameters": {"learning_rate": {"value": 1.0e-4}}}}},
        # A W&B sweep runs until stopped; here a budget ends it.
        "budget": {"trials": 2},
        "data": {"max_train_samples": 64}, "wandb": {"mode": "disabled"},
    }
    if parameter_names:
        design["parameter_names"] = parameter_names
    path.write_text(yaml.safe_dump(design))
    return path


def plan(workflow: Path, sweep: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["plan", str(workflow), "--sweep-config", str(sweep), *extra])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def sweep_files() -> list[Path]:
    if not SWEEPS.is_dir():
        pytest.skip(f"the W&B sweep files are not at {SWEEPS}; set SWEEPFIRST_SHARED_DATA")
    return sorted(p for p in SWEEPS.rglob("*") if p.suffix in (".yaml", ".yml"))


def test_every_real_wandb_sweep_is_planned_or_refused_in_one_sentence(
    tmp_path: Path, sweep_files: list[Path]
) -> None:
    workflows = {m: small_workflow(tmp_path / f"{m}.yaml", m) for m in ("full_finetune", "lora")}
    planned, refused = [], []
    for sweep in sweep_files:
        relative = str(sweep.relative_to(SWEEPS))
        method = FINE_TUNING.get(relative, ("lora", None))[0]
        code, output = plan(workflows[method], sweep)
        assert "Traceback" not in output, (relative, output)
        if code == 0:
            assert "plan ok:" in output, relative
            planned.append(relative)
            continue
        assert code == 2, (relative, code, output)  # a SpecError: the design is at fault
        message = " ".join(output.split())
        assert message.startswith("error: ") and message.count("error:") == 1, (relative, output)
        # It names the sweep file, the key at fault, and says what to do.
        assert str(sweep) in message, (relative, message)
        assert any(word in message for word in ("; rename", "; add", "; use", "; remove", "; write",
                                                "; map", "; give", "; set", "; keep", "; fix",
                                                "; list", "; raise")), (relative, message)
        refused.append(relative)
    print(f"\n{len(planned)} planned, {len(refused)} refused of {len(sweep_files)} W&B sweep files")
    assert len(planned) + len(refused) == len(sweep_files) == 141
    # Unchanged, only SLM-NER's four fine-tuning sweeps fit (their metric eval/f1 is MRPC's F1).
    assert sorted(p for p in planned if p in FINE_TUNING) == sorted(
        f for f, (_, names) in FINE_TUNING.items() if names is None)
    assert len(planned) == 4, planned


@pytest.mark.parametrize("relative", sorted(FINE_TUNING))
def test_the_fine_tuning_sweeps_plan_with_at_most_a_parameter_names_map(
    tmp_path: Path, sweep_files: list[Path], relative: str
) -> None:
    method, names = FINE_TUNING[relative]
    sweep = SWEEPS / relative
    if names:
        # Without the map: one sentence that names the map to write.
        code, output = plan(small_workflow(tmp_path / "bare.yaml", method), sweep)
        assert code == 2 and "parameter_names" in output, output
    code, output = plan(small_workflow(tmp_path / "w.yaml", method, names), sweep, "--json")
    assert code == 0, output
    (cell,) = json.loads(output)["cells"]
    assert cell["method"] == method and cell["trials"] >= 1 and cell["production_jobs"] == 3
    # Training steps are known: MRPC capped at 64 examples (58 after the 10% selection hold-out).
    assert cell["sweep_steps"] > 0 and cell["production_steps"] > 0 or cell["sweep_steps"] is None


def test_a_continuous_sweep_without_a_budget_is_refused_and_run_cap_fixes_it(tmp_path: Path, sweep_files: list[Path]) -> None:
    sweep = SWEEPS / "MartinH2k3__SLM-NER/src/sweep_config.yaml"
    workflow = tmp_path / "w.yaml"
    design = yaml.safe_load(small_workflow(workflow, "lora").read_text())
    del design["budget"]
    workflow.write_text(yaml.safe_dump(design))
    code, output = plan(workflow, sweep)
    assert code == 2 and "runs until a budget stops it" in output and "--run-cap N" in output
    code, output = plan(workflow, sweep, "--run-cap", "3", "--json")
    assert code == 0, output
    assert json.loads(output)["cells"][0]["trials"] == 3


def test_a_finite_space_over_1000_trials_needs_a_cap(tmp_path: Path, sweep_files: list[Path]) -> None:
    # W&B's own examples: a grid of 14,580 configurations (planned silently before).
    grid = {"method": "grid", "parameters": {
        "learning_rate": {"values": [1e-5 * i for i in range(1, 11)]},
        "per_device_train_batch_size": {"values": [4, 8, 16, 32, 64, 128]},
        "lora_r": {"values": [2, 4, 8, 16, 32, 64]}, "lora_alpha": {"values": [4, 8, 16, 32]}}}
    sweep = tmp_path / "grid.yaml"
    sweep.write_text(yaml.safe_dump(grid))
    workflow = tmp_path / "w.yaml"
    design = yaml.safe_load(small_workflow(workflow, "lora").read_text())
    del design["budget"]
    workflow.write_text(yaml.safe_dump(design))
    code, output = plan(workflow, sweep)
    assert code == 2 and "1,440 configurations, more than 1,000 trials without a cap" in " ".join(output.split())
    code, output = plan(workflow, sweep, "--run-cap", "12", "--json")
    assert code == 0 and json.loads(output)["cells"][0]["sweep_jobs"] == 12


def test_plan_checks_the_data_and_records_nothing(tmp_path: Path) -> None:
    workflow = small_workflow(tmp_path / "w.yaml", "lora")
    empty = tmp_path / "glue"
    (empty / "MRPC").mkdir(parents=True)
    state = tmp_path / "state"
    result = runner.invoke(app, ["plan", str(workflow), "--data-dir", str(empty), "--state-dir", str(state)])
    assert result.exit_code != 0 and "MRPC" in result.output and "Traceback" not in result.output
    assert not state.exists()


def test_plan_of_the_shipped_workflows(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    glue = SHARED / "glue"
    if not glue.is_dir():
        pytest.skip(f"GLUE data not at {glue}")
    result = runner.invoke(app, ["plan", str(repo / "workflows" / "compare-peft.yaml"), "--data-dir", str(glue),
                                 "--state-dir", str(tmp_path / "none"), "--json"])
    assert result.exit_code == 0, result.output
    planned = json.loads(result.output)
    assert {c["method"] for c in planned["cells"]} == {"full_finetune", "head_only", "lora", "dora", "ia3"}
    # Equal budgets (4 trials each); MRPC and SST-2 capped at 1,500 examples (after the 10%
    # selection hold-out, which leaves both more), batch 16, 2 epochs: ceil(1500/16)*2 = 188 steps.
    for cell in planned["cells"]:
        assert cell["trials"] == 4 and cell["sweep_steps"] == 4 * 188 and cell["production_steps"] == 3 * 188
