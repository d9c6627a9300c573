"""CLI behaviour that needs no training: help everywhere, fast status, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.main import get_command
from typer.testing import CliRunner

from sweepfirst.cli.app import app
from sweepfirst.cli.options import expand_list_options

runner = CliRunner()


def _commands(group, prefix=()):  # type: ignore[no-untyped-def]
    for name, command in group.commands.items():
        yield (*prefix, name)
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))


@pytest.mark.parametrize("command", list(_commands(get_command(app))))
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_help_status_and_the_store_never_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from sweepfirst.cli.app import main\n"
        "for argv in (['--help'], ['status', '--state-dir', sys.argv[1]], ['jobs', 'list', '--state-dir', sys.argv[1]]):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "import sweepfirst.store.jobs, sweepfirst.engine.loop, sweepfirst.spec\n"
        "heavy = [m for m in ('torch', 'transformers', 'datasets', 'peft', 'optuna') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_list_options_take_space_separated_values() -> None:
    assert expand_list_options(["w.yaml", "--tasks", "mrpc", "sst2", "--methods", "full_finetune", "lora", "--workers", "2"]) == [
        "w.yaml", "--tasks", "mrpc", "--tasks", "sst2", "--methods", "full_finetune", "--methods", "lora", "--workers", "2"]
    assert expand_list_options(["--tasks", "mrpc,sst2", "w.yaml"]) == ["--tasks", "mrpc", "--tasks", "sst2", "w.yaml"]
    assert expand_list_options(["--tasks=rte"]) == ["--tasks", "rte"]


def _workflow(tmp_path: Path, **changes: object) -> Path:
    raw: dict = {
        "name": "t", "model": "bundled-minilm", "tasks": ["mrpc"],
        "methods": {"lora": {"sweep": {"method": "grid", "parameters": {
            "learning_rate": {"values": [1.0e-4, 1.0e-3]}, "lora_r": {"value": 8}}}}},
    }
    for key, value in changes.items():
        node = raw
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


BAD_INPUTS = [
    ({"methods.lora.sweep.parameters.learning_rate": {"distribution": "uniform", "min": 1.0e-3, "max": 1.0e-4}}, "min"),
    ({"methods.lora.sweep.parameters.learning_rate": {"values": [-1.0e-4]}}, "learning_rate"),
    ({"methods.lora.sweep.parameters.lora_rank": {"value": 8}}, "lora_rank"),
    ({"tasks": ["mrpc", "qnli"]}, "qnli"),
    ({"methods.adapter": {"sweep": {"method": "grid", "parameters": {}}}}, "adapter"),
    ({"selection.fraction": 0.9}, "selection.fraction"),
    ({"colour": "blue"}, "colour"),
]


@pytest.mark.parametrize(("changes", "named"), BAD_INPUTS)
def test_bad_workflows_get_one_sentence_and_change_nothing(tmp_path: Path, changes: dict, named: str) -> None:
    state = tmp_path / "state"
    result = runner.invoke(app, ["run", str(_workflow(tmp_path, **changes)), "--state-dir", str(state)])
    assert result.exit_code != 0
    assert named in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 3
    assert not (state / "sweepfirst.db").exists()  # rejected before anything was recorded


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(tmp_path / "nope.yaml"), "--state-dir", str(tmp_path / "s")])
    assert result.exit_code != 0 and "does not exist" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n  tasks: [\n")
    result = runner.invoke(app, ["run", str(bad), "--state-dir", str(tmp_path / "s")])
    assert result.exit_code != 0 and "not valid YAML" in result.output
    code = tmp_path / "code.yaml"
    code.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    result = runner.invoke(app, ["run", str(code), "--state-dir", str(tmp_path / "s")])
    assert result.exit_code != 0 and "Traceback" not in result.output


def test_unknown_method_on_the_command_line_lists_the_valid_ones(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(_workflow(tmp_path)), "--methods", "prefix_tuning", "--state-dir", str(tmp_path)])
    assert result.exit_code != 0 and "lora" in result.output


def test_a_state_dir_of_another_design_is_left_alone(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = _workflow(tmp_path)
    # Record a run of the first design (stop it before any job: production cannot start).
    from sweepfirst.engine.orchestrate import choose_run
    from sweepfirst.spec import load_workflow
    from sweepfirst.store.context import Context

    ctx = Context.open(state_dir=state)
    run, _ = choose_run(ctx, load_workflow(first), new_run=False, phase=None)
    other = _workflow(tmp_path, **{"methods.lora.sweep.parameters.lora_r": {"value": 16}})
    result = runner.invoke(app, ["run", str(other), "--state-dir", str(state)])
    assert result.exit_code != 0
    assert run.name in result.output and "different design" in result.output
    result = runner.invoke(app, ["status", "--json", "--state-dir", str(state)])
    assert json.loads(result.output)["run"] == run.name


def test_status_without_runs_says_how_to_start(tmp_path: Path) -> None:
    result = runner.invoke(app, ["status", "--state-dir", str(tmp_path)])
    assert result.exit_code != 0 and "sweepfirst run" in result.output


def test_bad_optimal_config_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "opt.yaml"
    bad.write_text(yaml.safe_dump({"optimal_hyperparameters": {"mrpc": {"lora": {"hyperparameters": {"learning_rate": -1}}}}}))
    result = runner.invoke(app, ["run", str(_workflow(tmp_path)), "--phase", "production", "--optimal-config", str(bad),
                                 "--state-dir", str(tmp_path / "s")])
    assert result.exit_code != 0 and "learning_rate" in result.output
