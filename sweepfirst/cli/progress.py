"""The live view of a run: a bar per phase and one line per running job (rich), or plain periodic
lines when the output is not a terminal (CI logs, `nohup`, Slurm).

It reads what every job reports about itself (``progress.json`` in its folder, the heartbeat's
step in the database) through `status`'s own snapshot, in a thread of its own, so it shows jobs
on other workers too and never slows the loop that drives the run. `run`, `resume`, `worker` and
`status --watch` all use it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from sweepfirst.cli.status_view import format_seconds, running_line, time_left
from sweepfirst.engine.estimates import TRAINING_PHASES
from sweepfirst.job_progress import interval_seconds

if TYPE_CHECKING:
    from sweepfirst.store.context import Context

#: Seconds between refreshes; SWEEPFIRST_PROGRESS_INTERVAL overrides it (tests make it short).
DEFAULT_INTERVAL = 2.0
#: Seconds between plain lines when the output is not a terminal.
DEFAULT_PLAIN_INTERVAL = 30.0

_ENDED = frozenset({"completed", "failed", "cancelled"})

#: Returns `status`'s data for the run (``status_view.collect``), or None when it cannot be read now.
Fetch = Callable[[], dict[str, Any] | None]


def phase_lines(data: dict[str, Any]) -> list[tuple[str, int, int, float | None]]:
    """(phase, jobs done, jobs in all, ETA) per phase with jobs, planned or still to come."""
    done_states = ("succeeded", "failed", "pruned", "cancelled")
    totals: dict[str, list[int]] = {}
    for row in data["cells"]:
        entry = totals.setdefault(row["phase"], [0, 0])
        done = sum(row["counts"][s] for s in done_states)
        entry[0] += done
        entry[1] += done + row["counts"]["pending"] + row["counts"]["running"] + row["unplanned"]
    phases = data.get("phases") or {}
    order = {phase: i for i, phase in enumerate(TRAINING_PHASES)}  # the order a run reaches them
    return [(phase, done, total, (phases.get(phase) or {}).get("eta_seconds"))
            for phase, (done, total) in sorted(totals.items(), key=lambda item: order.get(item[0], len(order)))]


def headline(data: dict[str, Any]) -> str:
    """`status`'s first line, shorter: the run, its phase, elapsed and time left."""
    return (f"run {data['run']}: phase {data['phase']}, elapsed {format_seconds(data['elapsed_seconds'])}, "
            f"{time_left(data)}")


def render_live(data: dict[str, Any]) -> RenderableType:
    """The rich view: a headline, a bar per phase, one line per running job."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(width=30)
    grid.add_column(no_wrap=True)
    for phase, done, total, eta in phase_lines(data):
        grid.add_row(Text(phase, style="bold"), ProgressBar(total=max(total, 1), completed=done, width=30),
                     f"{done}/{total} jobs, ETA {format_seconds(eta) if total > done else 'done'}")
    jobs = [Text("  " + running_line(job)) for job in data["running_jobs"]]
    return Group(Text(headline(data)), grid, *jobs)


def plain_lines(data: dict[str, Any]) -> list[str]:
    """The same as plain text: a line per phase, a line per running job."""
    stamp = time.strftime("%H:%M:%S")
    lines = [f"[{stamp}] {headline(data)}"]
    for phase, done, total, eta in phase_lines(data):
        lines.append(f"[{stamp}]   {phase}: {done}/{total} jobs done, ETA "
                     f"{format_seconds(eta) if total > done else 'done'}")
    lines.extend(f"[{stamp}]   {running_line(job)}" for job in data["running_jobs"])
    return lines


class ProgressView:
    """Refresh the view every ``interval`` seconds until stopped (use :func:`live_progress`)."""

    def __init__(self, fetch: Fetch, console: Console, *, interval: float | None = None,
                 plain_interval: float | None = None, live: bool | None = None,
                 until_finished: bool = False) -> None:
        self.fetch = fetch
        self.console = console
        self.interval = interval if interval is not None else interval_seconds(DEFAULT_INTERVAL)
        self.plain_interval = plain_interval if plain_interval is not None else interval_seconds(
            DEFAULT_PLAIN_INTERVAL)
        self.live = console.is_terminal if live is None else live
        #: `status --watch`: stop once the run has completed, failed or been cancelled.
        self.until_finished = until_finished
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _safe_fetch(self) -> dict[str, Any] | None:
        try:
            return self.fetch()
        except Exception:  # noqa: BLE001 -- a view that cannot read now tries again; the run goes on
            return None

    def _run_live(self) -> None:
        from rich.live import Live

        with Live(Text(""), console=self.console, refresh_per_second=4, transient=True,
                  redirect_stdout=False, redirect_stderr=False) as live:
            while True:
                data = self._safe_fetch()
                if data is not None:
                    live.update(render_live(data), refresh=True)
                if self._finished(data) or self._stop.wait(self.interval):
                    break
        if self.until_finished and data is not None:
            self.console.print(headline(data), markup=False, highlight=False)

    def _finished(self, data: dict[str, Any] | None) -> bool:
        return self.until_finished and data is not None and data["phase"] in _ENDED

    def _run_plain(self) -> None:
        # `status --watch` prints at once; `run` first lets its own lines say what starts.
        wait_first = not self.until_finished
        while not (wait_first and self._stop.wait(self.plain_interval)):
            wait_first = True
            data = self._safe_fetch()
            if data is not None:
                for line in plain_lines(data):
                    self.console.print(line, markup=False, highlight=False, soft_wrap=True)
            if self._finished(data):
                break

    def start(self) -> None:
        target = self._run_live if self.live else self._run_plain
        self._thread = threading.Thread(target=target, name="progress-view", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wait(self) -> None:
        """Block until Ctrl-C (for `status --watch`)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)


@contextmanager
def live_progress(fetch: Fetch, console: Console | None = None, **options: Any) -> Iterator[ProgressView]:
    """Show the view while the block runs."""
    if console is None:
        from sweepfirst.cli import console as consoles

        console = consoles.err
    view = ProgressView(fetch, console, **options)
    view.start()
    try:
        yield view
    finally:
        view.stop()


def run_fetcher(ctx: Context, run_ref: str | int | None) -> Fetch:
    """`status`'s data for one run of ``ctx``'s database, read afresh on every call."""
    from sweepfirst.cli.status_view import collect
    from sweepfirst.store.snapshot import snapshot_from_session

    def fetch() -> dict[str, Any] | None:
        with ctx.db.session(readonly=True) as session:
            snapshot = snapshot_from_session(session, run_ref)
        # No degenerate check: the view refreshes every few seconds; `status` does it.
        return collect(snapshot, ctx.artifacts, check_degenerate=False)

    return fetch


def active_runs_fetcher(ctx: Context, run_ref: str | None) -> Fetch:
    """For `worker`: the view of the run it serves (``--run``), else of the latest active run."""
    from sweepfirst.states import Phase

    def fetch() -> dict[str, Any] | None:
        from sweepfirst.store import runs as run_store

        target: str | int | None = run_ref
        if target is None:
            with ctx.db.session(readonly=True) as session:
                active = [r for r in run_store.list_runs(session) if Phase(r.phase).is_working()]
            if not active:
                return None
            target = active[-1].id
        return run_fetcher(ctx, target)()

    return fetch
