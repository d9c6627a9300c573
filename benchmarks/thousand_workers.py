"""A simulated lab: many lightweight workers heartbeating at the real rate against one PostgreSQL run.

``--workers`` threads (default 1,000) share one run of ``--jobs`` no-op jobs (default 10,000) for
``--seconds`` (default 120). Each thread is a worker: it starts at a random moment in the first
10 s, claims a job with the store's real `claim_next_job`, holds it for a random 30-90 s while the
real `Heartbeat` renews its lease every third of ``--lease-seconds`` (the product's default 120 s:
every 40 s), finishes it with `finish_job`, and claims the next. A reaper thread runs the real
`reap_expired_leases` every 5 s, as every coordinator loop does. At the end the workers stop, and
a job still held is handed back as interrupted, as a stopped worker does.

The connections: one SQLAlchemy pool of ``--pool-size`` connections that every thread shares (the
pooler; PostgreSQL's default max_connections is 100, so 1,000 connections of their own would need
a server configured for them).

Checked: duplicates (a job held by two workers at once, seen in memory, or claimed again without
its previous attempt having ended), lost jobs (any job the reaper took back: a lease that expired
while its worker was alive, since no worker dies here), jobs left running, and the heartbeat
intervals actually achieved.

    python benchmarks/thousand_workers.py --db-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from sweepfirst.attempts import Ending
from sweepfirst.engine.heartbeat import Heartbeat
from sweepfirst.errors import LeaseLost
from sweepfirst.states import JobEvent, JobPhase, JobState
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.database import Database, redact_url
from sweepfirst.store.models import Job, JobEventRow


class Lab:
    def __init__(self, db: Database, run_id: int, args: argparse.Namespace) -> None:
        self.db, self.run_id, self.args = db, run_id, args
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.held: dict[int, int] = {}  # job id -> worker holding it
        self.duplicates_in_memory = 0
        self.finished = 0
        self.claims = 0
        self.claim_latencies: list[float] = []
        self.renewals: dict[int, list[float]] = defaultdict(list)
        self.reaped: list[int] = []
        self.errors: Counter[str] = Counter()

    def worker(self, index: int) -> None:
        rng = random.Random(index)
        if self.stop.wait(rng.uniform(0, 10)):
            return
        while not self.stop.is_set():
            began = time.perf_counter()
            try:
                with self.db.session() as session:
                    claim = job_store.claim_next_job(session, run_ids=[self.run_id],
                                                     lease_seconds=self.args.lease_seconds, owner=f"sim:{index}")
            except Exception as error:  # noqa: BLE001 -- counted and reported; the worker tries again
                self.errors[type(error).__name__] += 1
                self.stop.wait(1.0)
                continue
            with self.lock:
                self.claim_latencies.append(time.perf_counter() - began)
            if claim is None:
                return
            lease = claim[1]
            with self.lock:
                self.claims += 1
                if lease.job_id in self.held:
                    self.duplicates_in_memory += 1
                self.held[lease.job_id] = index
            with Heartbeat(self.db, lease, lease_seconds=self.args.lease_seconds):
                interrupted = self.stop.wait(rng.uniform(30, 90))
            with self.lock:
                self.held.pop(lease.job_id, None)
            try:
                with self.db.session() as session:
                    if interrupted:
                        job_store.end_attempt(session, lease.job_id, Ending.INTERRUPTED, token=lease.token,
                                              reason="simulation ended")
                    else:
                        job_store.finish_job(session, lease, JobEvent.SUCCEEDED)
                with self.lock:
                    self.finished += 0 if interrupted else 1
            except LeaseLost:
                self.errors["LeaseLost"] += 1

    def reaper(self) -> None:
        while not self.stop.wait(5.0):
            try:
                with self.db.session() as session:
                    self.reaped += job_store.reap_expired_leases(session, run_ids=[self.run_id])
            except Exception as error:  # noqa: BLE001
                self.errors[f"reaper {type(error).__name__}"] += 1


def _count_renewals(lab: Lab) -> None:
    """Record when each lease was renewed (wraps the store's renew_lease for this process)."""
    original = job_store.renew_lease

    def renew(session: Any, lease: job_store.Lease, **kwargs: Any) -> bool:
        alive = original(session, lease, **kwargs)
        with lab.lock:
            lab.renewals[lease.job_id].append(time.monotonic())
        return alive

    job_store.renew_lease = renew  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--lease-seconds", type=float, default=120.0)
    parser.add_argument("--pool-size", type=int, default=40)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(args.db_url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in args.db_url else "?"
    url = f"{args.db_url}{sep}options=-csearch_path%3D{schema}"
    try:
        db = Database(url)
        db.create_schema()
        # The pooler: one pool every thread shares, waiting (not failing) for a free connection.
        db.engine = sa.create_engine(url, pool_size=args.pool_size, max_overflow=0, pool_timeout=300,
                                     pool_pre_ping=True)
        db._sessions = sessionmaker(db.engine, expire_on_commit=False)
        with db.session() as session:
            run = run_store.create_run(session, name="lab", workflow_name="lab", spec={}, spec_hash="lab", kind="train")
            job_store.ensure_jobs(session, run.id, [
                job_store.JobSpec(JobPhase.TRAIN, "noop", "noop", {"i": i}, 0, f"lab/{i}") for i in range(args.jobs)])
            run_id = run.id
        lab = Lab(db, run_id, args)
        _count_renewals(lab)
        threads = [threading.Thread(target=lab.worker, args=(i,), daemon=True) for i in range(args.workers)]
        threads.append(threading.Thread(target=lab.reaper, daemon=True))
        began = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(args.seconds)
        lab.stop.set()
        for thread in threads:
            thread.join(timeout=120)
        elapsed = time.monotonic() - began
        results = audit(db, lab, args, elapsed)
        db.dispose()
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
    results["database"] = redact_url(args.db_url)
    print(json.dumps(results, indent=2))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(results, indent=2))


def audit(db: Database, lab: Lab, args: argparse.Namespace, elapsed: float) -> dict[str, Any]:
    with db.session() as session:
        by_state = dict(session.execute(
            select(Job.state, func.count()).where(Job.run_id == lab.run_id).group_by(Job.state)).all())
        events = session.execute(
            select(JobEventRow.job_id, JobEventRow.event).join(Job, Job.id == JobEventRow.job_id)
            .where(Job.run_id == lab.run_id).order_by(JobEventRow.id)).all()
    # A claim while the job's previous attempt had not ended is a duplicate.
    open_attempt: dict[int, bool] = {}
    duplicates_in_db = 0
    for job_id, event in events:
        if event == JobEvent.CLAIMED.value:
            duplicates_in_db += open_attempt.get(job_id, False)
            open_attempt[job_id] = True
        else:
            open_attempt[job_id] = False
    crashed = sum(1 for _job, event in events if event == JobEvent.CRASHED.value)
    gaps = [b - a for times in lab.renewals.values() for a, b in itertools.pairwise(times)]
    latencies = sorted(lab.claim_latencies) or [float("nan")]
    return {
        "workers": args.workers, "jobs": args.jobs, "seconds": round(elapsed, 1),
        "lease_seconds": args.lease_seconds, "heartbeat_every_s": args.lease_seconds / 3,
        "pool_size": args.pool_size, "cpus": os.cpu_count(), "load_average": os.getloadavg(),
        "claims": lab.claims, "finished": lab.finished, "states": by_state,
        "duplicates_in_memory": lab.duplicates_in_memory, "duplicates_in_db": duplicates_in_db,
        "reaped_while_alive": len(lab.reaped), "crashed_events": crashed,
        "left_running": by_state.get(JobState.RUNNING.value, 0),
        "renewals": sum(len(t) for t in lab.renewals.values()),
        "renewal_interval_s": {"median": round(statistics.median(gaps), 2) if gaps else None,
                               "max": round(max(gaps), 2) if gaps else None},
        "claim_ms": {"p50": round(statistics.median(latencies) * 1000, 1),
                     "p99": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000, 1)},
        "errors": dict(lab.errors),
    }


if __name__ == "__main__":
    main()
