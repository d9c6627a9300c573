"""`sweepfirst run` with bad data: one sentence with the file and line, before any run is recorded."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

MRPC_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
GOOD_MRPC = "\ufeff" + MRPC_HEADER + '1\t1\t2\t"He said\tHe said\n0\t3\t4\tA cat\tA dog\n'
GOOD_SST = "sentence\tlabel\ngood film \t1\nbad film \t0\n"


def _workflow(tmp_path: Path) -> Path:
    # No model is loaded before the data check fails, so the bundled name is enough.
    raw = {
        "name": "bad-data", "model": "bundled-minilm", "tasks": ["mrpc", "sst2"],
        "data": {"source": "local"}, "wandb": {"mode": "disabled"},
        "methods": {"lora": {"sweep": {"method": "grid", "parameters": {
            "learning_rate": {"values": [1.0e-4]}, "lora_r": {"value": 8}}}}},
    }  # fmt: skip
    path = tmp_path / "workflow.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _glue(root: Path, files: dict[str, str | bytes]) -> Path:
    """A glue_data folder holding good MRPC and SST-2 files, except those in ``files``."""
    contents: dict[str, str | bytes] = {
        "MRPC/train.tsv": GOOD_MRPC, "MRPC/dev.tsv": GOOD_MRPC,
        "SST-2/train.tsv": GOOD_SST, "SST-2/dev.tsv": GOOD_SST,
    }  # fmt: skip
    contents.update(files)
    for name, content in contents.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def _runs_recorded(state: Path) -> int:
    database = state / "sweepfirst.db"
    if not database.exists():
        return 0
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        return connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0] if "runs" in tables else 0


# (files that replace the good ones, the file the message must name, the line it must name)
CASES: dict[str, tuple[dict[str, str | bytes], str, str]] = {
    "label": ({"MRPC/train.tsv": GOOD_MRPC + "2\t5\t6\tA\tB\n"}, "MRPC/train.tsv", "Line 4 of "),
    "one-field row": ({"SST-2/train.tsv": GOOD_SST + "just one field\n"}, "SST-2/train.tsv", "Line 4 of "),
    "invalid utf-8": ({"SST-2/dev.tsv": b"sentence\tlabel\ncaf\xe9 \t1\n"}, "SST-2/dev.tsv", "Line 2 of "),
    "missing column": ({"MRPC/dev.tsv": "Quality\tA\tB\n1\ta\tb\n"}, "MRPC/dev.tsv", "The header (line 1) of "),
    "empty split": ({"SST-2/dev.tsv": "sentence\tlabel\n"}, "SST-2/dev.tsv", "has a header (line 1) but no rows"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_bad_data_stops_the_run_before_anything_is_recorded(tmp_path: Path, case: str) -> None:
    files, named_file, named_line = CASES[case]
    data = _glue(tmp_path / "glue", files)
    state = tmp_path / "state"
    result = _run(tmp_path, data, state)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output  # one sentence, on one line
    assert str(data / named_file) in errors[0] and named_line in errors[0]
    assert _runs_recorded(state) == 0
    assert not (state / "runs").exists()


def test_an_empty_data_folder_names_the_first_missing_file(tmp_path: Path) -> None:
    data = tmp_path / "empty"
    data.mkdir()
    state = tmp_path / "state"
    result = _run(tmp_path, data, state)
    assert result.returncode != 0 and "Traceback" not in result.stdout + result.stderr
    assert f"error: GLUE file {data / 'MRPC' / 'train.tsv'} not found;" in result.stderr
    assert _runs_recorded(state) == 0


def _run(tmp_path: Path, data: Path, state: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEEPFIRST_")}
    command = [sys.executable, "-m", "sweepfirst.cli.app", "run", str(_workflow(tmp_path)),
               "--data-dir", str(data), "--state-dir", str(state)]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
