"""`sweepfirst report` writes the whole report; `sweepfirst status` flags degenerate runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

from recorded_run import RecordedRun
from typer.testing import CliRunner

from sweepfirst.cli.app import app

SECTIONS = (
    "Run", "Summary", "Method comparison", "What the sweep bought", "Score vs hyperparameters",
    "Learning curves", "Per-seed scores", "Degenerate runs", "Failed jobs", "Provenance",
)
#: Score vs hyperparameters and learning curves for 2 cells, per-seed scores for 1 task.
FIGURES = 5

runner = CliRunner()


def _state(recorded: RecordedRun) -> list[str]:
    return ["--state-dir", str(recorded.ctx.state_dir)]


def test_report_writes_html_with_every_section_and_embedded_figures(
    recorded: RecordedRun,
) -> None:
    # No run and no --output: the latest run, into its own folder.
    result = runner.invoke(app, ["report", *_state(recorded)])
    assert result.exit_code == 0, result.output
    path = recorded.ctx.run_dir(recorded.name) / "report" / "report.html"
    html = path.read_text()
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in html, title
    assert len(re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', html)) == FIGURES
    assert "collapsed onto one class" in html and "RuntimeError: loss is nan" in html
    assert "full_finetune (flagged seeds excluded) − lora (flagged seeds excluded)" in html
    assert json.loads((path.parent / "report.json").read_text())["run"]["name"] == recorded.name
    assert str(path) in result.output
    assert "degenerate production run: mrpc/lora seed 3" in result.output


def test_report_as_markdown_links_png_files(recorded: RecordedRun, tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", recorded.name, "--format", "md",
                                 "--output", str(tmp_path), *_state(recorded)])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "report.md").read_text()
    for title in SECTIONS:
        assert f"## {title}\n" in text, title
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
    assert len(figures) == FIGURES
    assert all((tmp_path / name).read_bytes().startswith(b"\x89PNG") for name in figures)


def test_a_missing_run_is_one_sentence_and_a_failure(recorded: RecordedRun,
                                                      tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "no-such-run", "--output", str(tmp_path),
                                 *_state(recorded)])
    assert result.exit_code != 0
    assert "There is no run 'no-such-run' in this state database; known runs: handmade-run." \
        in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not (tmp_path / "report.html").exists()


def test_an_unknown_format_is_refused(recorded: RecordedRun) -> None:
    result = runner.invoke(app, ["report", "--format", "pdf", *_state(recorded)])
    assert result.exit_code == 2


def test_status_flags_the_degenerate_production_run(recorded: RecordedRun) -> None:
    result = runner.invoke(app, ["status", *_state(recorded)])
    assert result.exit_code == 0, result.output
    assert "flagged" in result.output
    flagged_lines = [line for line in result.output.splitlines() if line.startswith("flagged job")]
    assert len(flagged_lines) == 1
    assert "production mrpc/lora seed 3 as degenerate: " in flagged_lines[0]

    data = json.loads(runner.invoke(app, ["status", "--json", *_state(recorded)]).stdout)
    assert [(f["task"], f["method"], f["seed"]) for f in data["flagged_jobs"]] == [
        ("mrpc", "lora", 3)]
    flagged_cells = {(c["phase"], c["method"]): c["flagged"] for c in data["cells"]}
    assert flagged_cells[("production", "lora")] == 1
    assert flagged_cells[("production", "full_finetune")] == 0
    assert flagged_cells[("baseline", "lora")] == 0
