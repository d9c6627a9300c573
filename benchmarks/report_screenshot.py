"""Render the latest run's HTML report and screenshot it with headless Chromium.

    python benchmarks/report_screenshot.py [--state-dir ./state] [--run NAME] [--png PATH]

Prints the PNG path (and how long building, rendering and the screenshot took), so a person can
check how the report reads without opening a browser. The report goes to the run's folder
(``<artifacts>/runs/<run>/report/report.html``) like `sweepfirst report` writes it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sweepfirst.analysis.report.step2_build import build_report_data
from sweepfirst.analysis.report.step5_write import write_run_report
from sweepfirst.analysis.screenshot import screenshot_html
from sweepfirst.errors import SweepfirstError
from sweepfirst.store.context import Context


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, default=Path("state"))
    parser.add_argument("--db-url", default=None)
    parser.add_argument("--artifacts", type=Path, default=None)
    parser.add_argument("--run", default=None, help="run name or id [default: the latest]")
    parser.add_argument("--png", type=Path, default=None,
                        help="where to save the screenshot [default: beside the report]")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=9000,
                        help="window height; Chromium captures the window, not the whole page")
    args = parser.parse_args(argv)
    try:
        ctx = Context.open(state_dir=args.state_dir, db_url=args.db_url, artifacts=args.artifacts)
        started = time.perf_counter()
        data = build_report_data(ctx, args.run)
        built = time.perf_counter()
        html = write_run_report(data, ctx.run_dir(data.run.name) / "report", "html")
        rendered = time.perf_counter()
        png = screenshot_html(html, args.png or html.with_suffix(".png"), width=args.width,
                              height=args.height)
        shot = time.perf_counter()
    except SweepfirstError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return error.exit_code
    print(f"report {html} ({html.stat().st_size / 1e3:.0f} kB): built in "
          f"{built - started:.2f} s, rendered in {rendered - built:.2f} s, "
          f"screenshot in {shot - rendered:.2f} s", file=sys.stderr)
    print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
