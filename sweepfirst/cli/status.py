"""`sweepfirst status`: a query of the state database, never a log parse; never imports torch.

On a SQLite state file `app.main` answers through ``status_view.fast_status`` before this
command line is even built; this command answers the rest (PostgreSQL, `--watch`, the errors).
"""

from __future__ import annotations

from typing import Annotated

import typer

from sweepfirst.cli import console
from sweepfirst.cli.options import Artifacts, DbUrl, JsonFlag, StateDir, open_context
from sweepfirst.cli.status_view import collect, render
from sweepfirst.store.snapshot import snapshot_from_session

Watch = Annotated[bool, typer.Option("--watch", help="Keep showing the live view (a bar per phase, a line per running job) until the run ends or Ctrl-C.")]
Interval = Annotated[float, typer.Option("--interval", min=0.2, help="Seconds between refreshes of --watch.")]


def status(
    run_ref: Annotated[str | None, typer.Argument(metavar="[RUN]", help="Run name or id [default: the latest].", show_default=False)] = None,
    as_json: JsonFlag = False,
    watch: Watch = False,
    interval: Interval = 2.0,
    state_dir: StateDir = None,
    db_url: DbUrl = None,
    artifacts: Artifacts = None,
) -> None:
    """Where a run stands: jobs by state per phase x task x method, best scores, time left
    (eta_seconds per phase and in total in --json), and production runs flagged as degenerate."""
    ctx = open_context(state_dir, db_url, artifacts, create=False)
    with ctx.db.session(readonly=True) as session:
        snapshot = snapshot_from_session(session, run_ref)
    if watch:
        if as_json:
            console.fail("--watch shows a live view; for scripts, call `status --json` repeatedly.", code=2)
        from sweepfirst.cli.progress import ProgressView, run_fetcher

        view = ProgressView(run_fetcher(ctx, snapshot.run.id), console.out, interval=interval,
                            plain_interval=interval, until_finished=True)
        view.start()
        try:
            view.wait()
        except KeyboardInterrupt:
            view.stop()
        return
    data = collect(snapshot, ctx.artifacts)
    if as_json:
        console.print_json(data)
        return
    render(data)
