"""Screenshot an HTML report with headless Chromium, to check how it reads without a browser."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from sweepfirst.errors import SweepfirstError

#: Executable names Debian and other distributions install Chromium under.
CHROMIUM_NAMES = ("chromium", "chromium-browser")


class ScreenshotError(SweepfirstError):
    """Chromium could not take the screenshot; see the message above for its output."""


class ChromiumNotFound(ScreenshotError):
    """Chromium is not installed; install it with `apt-get install -y chromium` and run again."""


def find_chromium() -> str | None:
    """The path of the Chromium executable, or ``None`` when it is not installed."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot_html(
    html_path: Path,
    png_path: Path,
    width: int = 1280,
    height: int = 2400,
    *,
    timeout_s: float = 120.0,
) -> Path:
    """Render ``html_path`` in a ``width`` x ``height`` window and save it as ``png_path``.

    Headless Chromium captures the window, not the whole page, so pass a ``height`` tall enough
    for the part you want to see. Every run uses a fresh profile directory and has networking
    side-channels (updates, sync, QUIC) switched off: the report is self-contained, and a
    screenshot must not depend on, or touch, anything outside it.
    """
    chromium = find_chromium()
    if chromium is None:
        raise ChromiumNotFound()
    html_path = Path(html_path).resolve()
    png_path = Path(png_path).resolve()
    if not html_path.is_file():
        raise ScreenshotError(f"There is no HTML file at {html_path}; write the report first.")
    png_path.parent.mkdir(parents=True, exist_ok=True)
    png_path.unlink(missing_ok=True)  # so a stale file is never mistaken for this run's output

    with tempfile.TemporaryDirectory(prefix="sweepfirst-chromium-") as profile:
        command = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
            f"--screenshot={png_path}", f"--window-size={width},{height}",
            html_path.as_uri(),
        ]
        try:
            result = subprocess.run(
                command, check=False, capture_output=True, text=True, timeout=timeout_s
            )
        except subprocess.TimeoutExpired as exc:
            raise ScreenshotError(
                f"Chromium did not finish the screenshot within {timeout_s:.0f} s."
            ) from exc
    if result.returncode != 0 or not png_path.is_file():
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise ScreenshotError(
            f"Chromium exited with code {result.returncode} without writing {png_path}: "
            + " / ".join(tail)
        )
    return png_path
