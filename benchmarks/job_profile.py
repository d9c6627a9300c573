"""Where a finished run's time went: per job phase, the training loop, its evaluations, and what
happens around the loop, from the run's own records (no re-run, no instrumentation).

    python benchmarks/job_profile.py --state-dir state [--run NAME]

For every job: its wall time (claimed -> recorded, from the database), the Trainer's
``train_runtime`` (the training loop, evaluations and checkpoint saves included, from the job's
``job.json``) and the sum of its evaluations' ``eval_runtime``. Hence three parts per job:
- training steps: ``train_runtime`` minus the evaluations (checkpoint saves are in here too);
- evaluations;
- around the loop: wall minus ``train_runtime`` (building the model, loading and tokenizing the
  data or reading the tokenization cache, writing results, predictions and the final model).
Then per run phase: its wall time from the run's phase events, the jobs' summed wall time, and the
gap (the coordinator's own time: planning, analysis, reports, and waiting between jobs). Worker
start-up (importing torch and transformers) falls in a gap, once per worker process.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context
from sweepfirst.store.models import Job


def _job_parts(ctx: Context, job: Job) -> tuple[float, float, float] | None:
    """(wall, training loop, evaluations) seconds of one finished job, or None if unrecorded."""
    if job.started_at is None or job.finished_at is None:
        return None
    record = ctx.job_dir(job.output_dir) / "job.json"
    if not record.exists():
        return None
    outcome = json.loads(record.read_text())
    loop = float(outcome.get("train_runtime_s") or 0.0)
    evaluations = sum(float(h["metrics"].get("eval_runtime", 0.0)) for h in outcome.get("history", []))
    wall = (job.finished_at - job.started_at).total_seconds()
    return wall, loop, evaluations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--run", default=None, help="Run name or id (default: the latest).")
    args = parser.parse_args()

    ctx = Context.open(state_dir=args.state_dir, create=False)
    with ctx.db.session() as session:
        run = run_store.find_run(session, args.run)
        jobs = job_store.list_jobs(session, run.id)
        phase_seconds = run_store.time_per_phase(session, run.id)
        name = run.name

    # job phase -> [jobs, wall, loop, evaluations]
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for job in jobs:
        parts = _job_parts(ctx, job)
        if parts is None:
            continue
        row = totals[job.phase]
        row[0] += 1
        for i, value in enumerate(parts, start=1):
            row[i] += value

    print(f"run {name}: {len(jobs)} jobs")
    print(f"{'job phase':<16}{'jobs':>5}{'wall s':>9}{'steps s':>9}{'evals s':>9}{'around s':>10}"
          f"{'steps %':>9}{'evals %':>9}{'around %':>10}")
    grand = [0.0, 0.0, 0.0, 0.0]
    for phase, (count, wall, loop, evaluations) in totals.items():
        grand = [g + v for g, v in zip(grand, (count, wall, loop, evaluations))]
        _print_row(phase, count, wall, loop, evaluations)
    _print_row("all jobs", *grand)
    print()
    print(f"{'run phase':<16}{'wall s':>9}")
    for phase, seconds in phase_seconds.items():
        print(f"{phase:<16}{seconds:>9.1f}")
    total = sum(phase_seconds.values())
    print(f"{'whole run':<16}{total:>9.1f}   jobs' wall {grand[1]:.1f} s, the rest (coordinator, "
          f"worker start-up, gaps) {total - grand[1]:.1f} s")


def _print_row(label: str, count: float, wall: float, loop: float, evaluations: float) -> None:
    steps, around = loop - evaluations, wall - loop
    share = (lambda part: 100.0 * part / wall) if wall else (lambda part: 0.0)
    print(f"{label:<16}{count:>5.0f}{wall:>9.1f}{steps:>9.1f}{evaluations:>9.1f}{around:>10.1f}"
          f"{share(steps):>9.1f}{share(evaluations):>9.1f}{share(around):>10.1f}")


if __name__ == "__main__":
    main()
