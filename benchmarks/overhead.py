"""What the state store costs per job: no-op jobs claimed and finished by N worker processes.

Each worker process runs the store's real protocol -- `claim_next_job` (guarded UPDATE + event row,
FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on SQLite) then `finish_job` -- on jobs that
do nothing, so what is measured is the store's overhead alone. Reported per backend and process
count: jobs/second (wall clock, from a common start signal, process start-up excluded), claim
latency (median, p95, p99), duplicates (jobs claimed more than once), losses (jobs not succeeded)
and, for a PostgreSQL server on this machine, the CPU seconds its backends spent serving the
workers' connections (heartbeat connections not counted).

``--job-seconds S`` is the realistic mode: each job holds its lease S seconds while the real
`Heartbeat` thread renews it every third of ``--lease-seconds``, as a training job's does.
``--claim two-step`` measures the generic claim (SELECT ... FOR UPDATE SKIP LOCKED, UPDATE, event,
SELECT) on PostgreSQL instead of its one-statement claim: the before/after of the scaling fix.

    python benchmarks/overhead.py                                  # SQLite in a temp file
    python benchmarks/overhead.py --db-url postgresql+psycopg://postgres@127.0.0.1/test --no-sqlite \
        --workers 1 4 16 64 --json out.json

PostgreSQL measurements run in a schema of their own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select

from sweepfirst.states import JobEvent, JobPhase, JobState
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.database import Database, redact_url
from sweepfirst.store.models import Job, JobEventRow

SPAWN = multiprocessing.get_context("spawn")


@dataclass
class Result:
    backend: str
    workers: int
    jobs: int
    seconds: float
    jobs_per_second: float
    claim_median_ms: float
    claim_p95_ms: float
    duplicates: int
    losses: int
    claim_p99_ms: float = 0.0
    claim: str = "one-statement"
    job_seconds: float = 0.0
    #: CPU seconds the server spent in the workers' backends (None: SQLite; 0: not on this machine).
    database_cpu_s: float | None = None


def _worker(url: str, run_id: int, start: Any, out: Any, claim_path: str = "one-statement",
            job_seconds: float = 0.0, lease_seconds: float = 300.0) -> None:
    """One worker process: claim and finish until nothing is pending; report claim latencies."""
    from sweepfirst.engine.heartbeat import Heartbeat

    job_store.ONE_STATEMENT_CLAIM = claim_path == "one-statement"
    db = Database(url)
    latencies: list[float] = []
    with db.session() as session:  # import and connect before the clock starts
        backend = session.execute(sa.text("SELECT pg_backend_pid()")).scalar() if not db.is_sqlite else None
    cpu = backend_cpu_seconds(backend)
    start.wait()  # a barrier: the clock starts when every process is ready
    while True:
        began = time.perf_counter()
        with db.session() as session:
            claim = job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=lease_seconds)
        latencies.append(time.perf_counter() - began)
        if claim is None:
            break
        if job_seconds:
            with Heartbeat(db, claim[1], lease_seconds=lease_seconds):
                time.sleep(job_seconds)
        with db.session() as session:
            job_store.finish_job(session, claim[1], JobEvent.SUCCEEDED)
    # The server's CPU for this worker: its pooled connection's backend (the same one throughout).
    out.put((latencies[:-1], backend_cpu_seconds(backend) - cpu))  # the last claim found nothing
    db.dispose()


def backend_cpu_seconds(pid: int | None) -> float:
    """CPU seconds a PostgreSQL backend on this machine has used (0 when it cannot be read)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _make_jobs(db: Database, jobs: int) -> int:
    with db.session() as session:
        run = run_store.create_run(session, name=f"bench-{uuid.uuid4().hex[:8]}", workflow_name="bench",
                                   spec={}, spec_hash="bench", kind="train")
        job_store.ensure_jobs(session, run.id, [
            job_store.JobSpec(JobPhase.TRAIN, "noop", "noop", {"i": i}, 0, f"bench/{i}") for i in range(jobs)
        ])
        return run.id


def _audit(db: Database, run_id: int) -> tuple[int, int]:
    """(duplicates, losses): jobs claimed more than once, jobs that did not succeed."""
    with db.session() as session:
        claims = session.execute(
            select(JobEventRow.job_id, func.count())
            .join(Job, Job.id == JobEventRow.job_id)
            .where(Job.run_id == run_id, JobEventRow.event == JobEvent.CLAIMED.value)
            .group_by(JobEventRow.job_id)
        ).all()
        not_done = session.scalar(
            select(func.count()).select_from(Job)
            .where(Job.run_id == run_id, Job.state != JobState.SUCCEEDED.value)
        )
    return sum(n - 1 for _job, n in claims if n > 1), int(not_done or 0)


def measure(url: str, backend: str, workers: int, jobs: int, *, claim_path: str = "one-statement",
            job_seconds: float = 0.0, lease_seconds: float = 300.0) -> Result:
    db = Database(url)
    db.create_schema()
    run_id = _make_jobs(db, jobs)
    start, out = SPAWN.Barrier(workers + 1), SPAWN.Queue()
    processes = [SPAWN.Process(target=_worker, args=(url, run_id, start, out, claim_path, job_seconds, lease_seconds))
                 for _ in range(workers)]
    for process in processes:
        process.start()
    start.wait(timeout=300)  # process start-up is not store overhead
    began = time.perf_counter()
    reports = [out.get(timeout=900) for _ in processes]
    seconds = time.perf_counter() - began
    latencies = [latency for report, _cpu in reports for latency in report]
    database_cpu = sum(cpu for _report, cpu in reports) if backend == "postgresql" else None
    for process in processes:
        process.join()
    duplicates, losses = _audit(db, run_id)
    db.dispose()
    ordered = sorted(latencies) or [float("nan")]
    return Result(
        backend=backend, workers=workers, jobs=jobs, seconds=round(seconds, 3),
        jobs_per_second=round(jobs / seconds, 1),
        claim_median_ms=round(statistics.median(ordered) * 1000, 2),
        claim_p95_ms=round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 2),
        claim_p99_ms=round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 2),
        duplicates=duplicates, losses=losses, claim=claim_path if backend == "postgresql" else "-",
        job_seconds=job_seconds,
        database_cpu_s=round(database_cpu, 2) if database_cpu is not None else None,
    )


@contextmanager
def _postgres_schema(url: str) -> Iterator[str]:
    """A throw-away schema on the server, and the URL that uses it."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--claim", choices=["one-statement", "two-step"], nargs="+", default=["one-statement"],
                        help="PostgreSQL claim path(s) to measure, alternating per worker count.")
    parser.add_argument("--job-seconds", type=float, default=0.0, help="Realistic mode: how long a job holds its lease.")
    parser.add_argument("--lease-seconds", type=float, default=300.0, help="Lease length (heartbeats every third).")
    parser.add_argument("--db-url", action="append", default=[], help="Also measure this PostgreSQL database.")
    parser.add_argument("--no-sqlite", action="store_true", help="Skip the SQLite measurements.")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()

    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in [] if args.no_sqlite else args.workers:
            url = f"sqlite:///{Path(tmp) / f'bench-{workers}.db'}"
            results.append(measure(url, "sqlite", workers, args.jobs))
            print(_row(results[-1]), flush=True)
    for db_url in args.db_url:
        for workers in args.workers:
            for claim_path in args.claim:
                with _postgres_schema(db_url) as url:
                    results.append(measure(url, sa.make_url(db_url).get_backend_name(), workers, args.jobs,
                                           claim_path=claim_path, job_seconds=args.job_seconds,
                                           lease_seconds=args.lease_seconds))
                print(_row(results[-1]), flush=True)

    load = os.getloadavg()
    print(f"\n{os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print(_HEADER)
    for result in results:
        print(_row(result))
    if args.json:
        args.json.write_text(json.dumps({
            "cpus": os.cpu_count(), "load_average": load,
            "databases": [redact_url(u) for u in args.db_url],
            "results": [asdict(r) for r in results],
        }, indent=2))


_HEADER = (f"{'backend':<11}{'claim':<14}{'workers':>8}{'jobs':>7}{'seconds':>9}{'jobs/s':>9}{'p50 ms':>9}"
           f"{'p95 ms':>9}{'p99 ms':>9}{'dup':>5}{'lost':>6}{'db cpu s':>10}")


def _row(r: Result) -> str:
    cpu = f"{r.database_cpu_s:.1f}" if r.database_cpu_s is not None else "-"
    return (f"{r.backend:<11}{r.claim:<14}{r.workers:>8}{r.jobs:>7}{r.seconds:>9.2f}{r.jobs_per_second:>9.1f}"
            f"{r.claim_median_ms:>9.2f}{r.claim_p95_ms:>9.2f}{r.claim_p99_ms:>9.2f}{r.duplicates:>5}{r.losses:>6}{cpu:>10}")


if __name__ == "__main__":
    main()
