"""A report rendered from a hand-built ReportData, in both formats, has every section."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from sweepfirst.analysis.report.model import ReportData
from sweepfirst.analysis.report.step5_write import write_report

SECTIONS = (
    "Summary", "Method comparison", "What the sweep bought", "Score vs hyperparameters",
    "Learning curves", "Per-seed scores", "Degenerate runs", "Provenance",
)


@pytest.fixture(scope="module")
def html_report(tmp_path_factory: pytest.TempPathFactory, sample_report: ReportData) -> Path:
    return write_report(sample_report, tmp_path_factory.mktemp("html"), "html")


@pytest.fixture(scope="module")
def md_report(tmp_path_factory: pytest.TempPathFactory, sample_report: ReportData) -> Path:
    return write_report(sample_report, tmp_path_factory.mktemp("md"), "md")


def test_html_has_every_section(html_report: Path) -> None:
    assert html_report.name == "report.html"
    html = html_report.read_text()
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in html
    assert "<h3>MRPC (accuracy)</h3>" in html


def test_html_tables_hold_the_numbers(html_report: Path, sample_report: ReportData) -> None:
    html = html_report.read_text()
    assert html.count("<table") >= 10
    assert "<th>Mean ± std</th>" in html and "<th>p (paired t)</th>" in html
    assert "<th>McNemar b / c</th>" in html and "<th>95% bootstrap CI</th>" in html
    mrpc_full = sample_report.tasks[0].methods[0].summary
    assert mrpc_full is not None and mrpc_full.std is not None
    assert f"{mrpc_full.mean:.4f} ± {mrpc_full.std:.4f}" in html
    assert "Only 3 paired seeds" in html  # the underpowered sentence
    assert "collapsed onto one class" in html  # the degenerate-run reason
    assert "3f9c2e1a7b" in html and "transformers" in html  # provenance


def test_html_is_self_contained(html_report: Path) -> None:
    html = html_report.read_text()
    images = re.findall(r'<img src="([^"]+)"', html)
    # 4 sweep plots, 4 learning-curve plots, 2 per-seed plots.
    assert len(images) == 10
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "<style>" in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "<script" not in html and "<link" not in html


def test_markdown_has_every_section_and_its_figures(md_report: Path) -> None:
    assert md_report.name == "report.md"
    text = md_report.read_text()
    for title in SECTIONS:
        assert f"## {title}\n" in text
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(figures) == 10
    for name in figures:
        png = md_report.parent / name
        assert png.is_file() and png.read_bytes().startswith(b"\x89PNG")
    assert "| Task | Method | Metric | n | Mean ± std |" in text
    assert "> **Warning:**" in text


def test_json_is_written_beside_both(html_report: Path, md_report: Path) -> None:
    for report in (html_report, md_report):
        data = json.loads((report.parent / "report.json").read_text())
        assert [t["task"] for t in data["tasks"]] == ["MRPC", "SST-2"]
        assert data["provenance"]["git_commit"] == "3f9c2e1a7b"


def test_selection_on_dev_is_warned_at_the_top(tmp_path: Path, sample_report: ReportData) -> None:
    on_dev = dataclasses.replace(
        sample_report, run=dataclasses.replace(sample_report.run, selection_on_dev=True))
    html = write_report(on_dev, tmp_path, "html").read_text()
    first_section = html.index("<section")
    assert html.index("selected on the dev set") < first_section


def test_markdown_escapes_pipes(tmp_path: Path, sample_report: ReportData) -> None:
    run = dataclasses.replace(sample_report.run, selection_split="dev | test")
    text = write_report(dataclasses.replace(sample_report, run=run), tmp_path, "md").read_text()
    assert "dev \\| test" in text


def test_unknown_format_is_refused(tmp_path: Path, sample_report: ReportData) -> None:
    with pytest.raises(ValueError, match="html, md"):
        write_report(sample_report, tmp_path, "pdf")  # type: ignore[arg-type]


def test_rewriting_leaves_no_temporary_files(tmp_path: Path, sample_report: ReportData) -> None:
    write_report(sample_report, tmp_path, "html")
    write_report(sample_report, tmp_path, "html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.json"]
