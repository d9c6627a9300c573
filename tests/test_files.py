"""The one atomic writer (`sweepfirst.files`): the mode any file of the user's has, and a crash
mid-write leaves the old file whole."""

from __future__ import annotations

import math
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sweepfirst.files import write_atomic, write_json_atomic
from sweepfirst.jsonable import json_text


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_a_written_file_has_the_mode_the_umask_gives_any_new_file(tmp_path: Path, umask: int) -> None:
    before = os.umask(umask)
    try:
        write_atomic(tmp_path / "report.html", "<p>hi</p>")
        write_json_atomic(tmp_path / "report.json", {"a": 1})
        (tmp_path / "by_hand.txt").write_text("x")
    finally:
        os.umask(before)
    expected = 0o666 & ~umask
    assert _mode(tmp_path / "by_hand.txt") == expected
    assert _mode(tmp_path / "report.html") == expected  # not mkstemp's private 0600
    assert _mode(tmp_path / "report.json") == expected


def test_replacing_a_file_keeps_no_temporary_and_writes_bytes_and_text(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "folder" / "figure.png"
    write_atomic(target, b"\x89PNG old")
    write_atomic(target, b"\x89PNG new")
    assert target.read_bytes() == b"\x89PNG new"
    write_atomic(tmp_path / "note.md", "± ü\n")
    assert (tmp_path / "note.md").read_bytes() == "± ü\n".encode()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["figure.png", "note.md"]


def test_an_error_mid_write_leaves_the_old_file_and_no_temporary(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "summary.md"
    write_atomic(target, "old\n")

    def disk_full(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_atomic(target, "new and much longer\n" * 1000)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.md"]


def test_a_process_killed_mid_write_leaves_the_old_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "optimal_hyperparameters.yaml"
    write_atomic(target, "learning_rate: 0.001\n")
    # The new content is in the temporary file when the process dies (SIGKILL: no cleanup runs).
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from sweepfirst.files import write_atomic\n"
        "os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)\n"
        "write_atomic(Path(sys.argv[1]), 'learning_rate: 0.5\\n' * 10000)\n"
    )
    finished = subprocess.run([sys.executable, "-c", script, str(target)], check=False, timeout=120)
    assert finished.returncode == -9
    assert target.read_text() == "learning_rate: 0.001\n"


def test_json_text_is_the_one_serialisation(tmp_path: Path) -> None:
    value = {"path": tmp_path, "pair": (1, 2), "loss": math.nan, "name": "ü"}
    assert json_text(value) == (
        '{\n  "path": "' + str(tmp_path) + '",\n  "pair": [\n    1,\n    2\n  ],\n'
        '  "loss": null,\n  "name": "ü"\n}\n'
    )
    # Files only sweepfirst reads keep a diverged run's NaN, so a resume reads back the same result.
    assert '"loss": NaN' in json_text(value, allow_nan=True)
    assert json_text({"b": 1, "a": 2}, sort_keys=True) == '{\n  "a": 2,\n  "b": 1\n}\n'
