"""Bad option values (--gpus, --tasks, --set) get one sentence naming the option, and record nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sweepfirst.cli.app import app
from sweepfirst.cli.options import parse_gpus
from sweepfirst.errors import SpecError
from sweepfirst.spec import load_workflow

runner = CliRunner()


def assert_one_sentence(output: str, *words: str) -> None:
    assert "Traceback" not in output, output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("error: ") and lines[0].endswith("."), lines[0]
    assert not re.search(r"[.!?] [A-Z]", lines[0]), f"more than one sentence: {lines[0]}"
    for word in words:
        assert word in lines[0], (word, lines[0])


def two_task_workflow(tmp_path: Path) -> Path:
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump({
        "name": "two", "model": "bundled-minilm", "tasks": ["mrpc", "sst2"],
        "methods": {"lora": {"sweep": {"method": "grid", "parameters": {"learning_rate": {"values": [1.0e-4]}}}}},
    }))
    return path


# 8. --gpus --------------------------------------------------------------------------------------

def test_parse_gpus_accepts_indices_and_uuids() -> None:
    assert parse_gpus(None) is None and parse_gpus("") is None
    assert parse_gpus("0") == ("0",)
    assert parse_gpus("0, 1,3") == ("0", "1", "3")
    uuid = "GPU-8e2b7f44-3c1d-4a5e-9f00-0123456789ab"
    assert parse_gpus(f"{uuid},MIG-6c4f2a10-1b2c-5d3e-8f9a-abcdefabcdef") == (
        uuid, "MIG-6c4f2a10-1b2c-5d3e-8f9a-abcdefabcdef")


@pytest.mark.parametrize("value", ["abc", "0,,x", "-1", "0,", "1.5", "0,0", "gpu0"])
def test_parse_gpus_refuses_what_cuda_would_ignore(value: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse_gpus(value)
    assert raised.value.exit_code == 2
    assert f"--gpus {value!r}" in raised.value.message


@pytest.mark.parametrize("value", ["abc", "0,,x", "-1"])
def test_worker_refuses_bad_gpus_before_opening_anything(tmp_path: Path, value: str) -> None:
    state = tmp_path / "state"
    result = runner.invoke(app, ["worker", "--gpus", value, "--state-dir", str(state)])
    assert result.exit_code == 2
    assert_one_sentence(result.output, f"--gpus {value!r}", "--gpus 0,1")
    assert not state.exists()


# 9. --tasks and --set ---------------------------------------------------------------------------

def test_a_task_the_workflow_does_not_list_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = runner.invoke(app, ["run", str(two_task_workflow(tmp_path)), "--tasks", "rte", "--state-dir", str(state)])
    assert result.exit_code == 2
    assert_one_sentence(result.output, "'rte'", "mrpc, sst2", "--set tasks=[mrpc,sst2,rte]")
    assert not state.exists()


def test_restricting_to_listed_tasks_still_works(tmp_path: Path) -> None:
    workflow = load_workflow(two_task_workflow(tmp_path)).restricted(["sst2"], ["lora"])
    assert workflow.tasks == ["sst2"] and list(workflow.methods) == ["lora"]
    widened = load_workflow(two_task_workflow(tmp_path), ["tasks=[mrpc, sst2, rte]"]).restricted(["rte"], None)
    assert widened.tasks == ["rte"]


@pytest.mark.parametrize(("assignment", "words"), [
    ("data.max_train_samples=abc", ["--set data.max_train_samples=abc", "max_train_samples"]),
    ("colour=blue", ["--set colour=blue", "unknown field"]),
    ("data.bogus=1", ["--set data.bogus=1", "unknown field"]),
    ("tasks=[mrpc, qnli]", ["--set tasks=[mrpc, qnli]", "qnli"]),
    ("training.max_attempts=0", ["--set training.max_attempts=0", "max_attempts"]),
    ("data.max_train_samples", ["--set 'data.max_train_samples'", "KEY=VALUE"]),
    ("data..max_train_samples=8", ["--set 'data..max_train_samples=8'", "KEY=VALUE"]),
    ("model.name=x", ["--set 'model.name=x'", "not a section"]),
])
def test_a_bad_override_is_named(tmp_path: Path, assignment: str, words: list[str]) -> None:
    state = tmp_path / "state"
    result = runner.invoke(app, ["run", str(two_task_workflow(tmp_path)), "--set", assignment,
                                 "--state-dir", str(state)])
    assert result.exit_code == 2
    assert_one_sentence(result.output, *words)
    assert not state.exists()


def test_an_override_is_blamed_only_for_its_own_error(tmp_path: Path) -> None:
    good = two_task_workflow(tmp_path)
    # Fine together: the valid override is not named.
    assert load_workflow(good, ["data.max_train_samples=64", "seeds.search=3"]).data.max_train_samples == 64
    with pytest.raises(SpecError) as raised:
        load_workflow(good, ["seeds.search=3", "data.max_train_samples=abc"])
    assert raised.value.message.startswith("--set data.max_train_samples=abc ")
    # The file's own mistake stays the file's, whatever valid override comes with it.
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text() + "colour: blue\n")
    with pytest.raises(SpecError) as raised:
        load_workflow(bad, ["seeds.search=3"])
    assert raised.value.message.startswith(str(bad)) and "colour" in raised.value.message
    assert "--set" not in raised.value.message
