"""A headless-Chromium screenshot of a rendered report is a real picture, not a blank page."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from sweepfirst.analysis import screenshot
from sweepfirst.analysis.report.model import ReportData
from sweepfirst.analysis.report.step5_write import write_report

needs_chromium = pytest.mark.skipif(
    screenshot.find_chromium() is None,
    reason="chromium is not installed (apt-get install -y chromium); screenshot not checked",
)


@needs_chromium
def test_screenshot_of_a_report(tmp_path: Path, sample_report: ReportData) -> None:
    html = write_report(sample_report, tmp_path / "report", "html")
    png = screenshot.screenshot_html(html, tmp_path / "shot.png", width=1024, height=1600)

    image = matplotlib.image.imread(png)
    assert image.shape[:2] == (1600, 1024)
    assert png.stat().st_size > 20_000
    pixels = image[..., :3].reshape(-1, 3)
    # Text, tables and plots: many distinct colours and real contrast.
    assert len(np.unique(pixels, axis=0)) > 50
    assert pixels.std() > 0.05


def test_missing_chromium_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(screenshot, "find_chromium", lambda: None)
    html = tmp_path / "page.html"
    html.write_text("<p>hi</p>")
    with pytest.raises(screenshot.ChromiumNotFound, match="apt-get install -y chromium"):
        screenshot.screenshot_html(html, tmp_path / "shot.png")


@needs_chromium
def test_missing_html_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(screenshot.ScreenshotError, match="write the report first"):
        screenshot.screenshot_html(tmp_path / "absent.html", tmp_path / "shot.png")
