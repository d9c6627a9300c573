"""How fast `sweepfirst status` answers: fresh processes against a state database of a few hundred
jobs and one of 10,000, next to `python -c "import torch, transformers"`.

    python benchmarks/status_speed.py [--jobs 300 10000] [--repeats 7]

Each database is recorded through the store API like a real run of the quickstart's design: most
jobs succeeded (with run times), some are running (with a progress.json in their folders, and a
live lease owned by this script), the rest pending. Targets: at most 0.3 s for a few hundred jobs
and under 0.5 s for 10,000, on an idle machine. Each figure is the median of ``--repeats`` fresh
processes (the minimum is printed too); say what else ran on the machine when you record one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sweepfirst.job_progress import JobProgress, write_progress
from sweepfirst.spec import load_workflow
from sweepfirst.states import JobPhase, JobState, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context
from sweepfirst.store.models import Job


def build_state(state: Path, n_jobs: int) -> None:
    """A run in its sweep with ``n_jobs`` jobs: 90% succeeded, 2 running, the rest pending."""
    spec = load_workflow(ROOT / "workflows" / "quickstart.yaml").model_dump(mode="json")
    ctx = Context.open(state_dir=state)
    cells = [(t, m) for t in spec["tasks"] for m in spec["methods"]]
    with ctx.db.session() as session:
        run = run_store.create_run(session, name="bench", workflow_name=spec["name"], spec=spec,
                                   spec_hash="bench", launch={"workers": 2})
        specs = []
        for i in range(n_jobs):
            task, method = cells[i % len(cells)]
            specs.append(job_store.JobSpec(
                JobPhase.SWEEP, task, method,
                {"learning_rate": 1e-4 * (1 + i), "per_device_train_batch_size": 16, "num_train_epochs": 2},
                0, f"runs/bench/jobs/sweep/{task}/{method}/trial{i:05d}", trial_index=i))
        job_store.ensure_jobs(session, run.id, specs)
        run_store.transition_run(session, run.id, Phase.SWEEP, detail="benchmark")
        run_id = run.id
    succeeded = int(n_jobs * 0.9)
    with ctx.db.session() as session:
        ids = [j.id for j in job_store.list_jobs(session, run_id)]
        session.execute(update(Job).where(Job.id.in_(ids[:succeeded])).values(
            state=JobState.SUCCEEDED.value, runtime_s=55.0, score=0.7, metrics={"eval_accuracy": 0.7}))
    for _ in range(2):
        with ctx.db.session() as session:
            # Owned by a worker on another machine, so status sees it as alive and estimates it.
            job, _lease = job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=3600,
                                                   owner="worker-host:4242")
            write_progress(ctx.job_dir(job.output_dir), JobProgress(
                step=40, max_steps=188, epoch=0.43, num_train_examples=1500, eval_split="selection",
                examples_per_second=27.0, updated_at=time.time()))
    ctx.db.dispose()


def timed(command: list[str], repeats: int, env: dict[str, str]) -> tuple[float, float, float]:
    """(median wall, min wall, median CPU) seconds of ``command`` in fresh processes. CPU time
    (user + system of the child) moves far less than wall time when other work shares the cores."""
    times, cpu = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env, cwd=ROOT)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times), min(times), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[300, 10_000])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.jobs:
            state = Path(tmp) / f"state-{n}"
            build_state(state, n)
            for label, extra in (("status", []), ("status --json", ["--json"])):
                median, best, cpu = timed([sys.executable, "-m", "sweepfirst.cli.app", "status", *extra,
                                           "--state-dir", str(state)], args.repeats, env)
                results[f"{label}, {n} jobs"] = {"median_s": round(median, 3), "min_s": round(best, 3),
                                                 "cpu_s": round(cpu, 3)}
                print(f"{label:14s} {n:6d} jobs: median {median:.3f} s (min {best:.3f} s), CPU {cpu:.3f} s",
                      flush=True)
    median, best, cpu = timed([sys.executable, "-c", "import torch, transformers"], max(args.repeats // 2, 3), env)
    results["import torch, transformers"] = {"median_s": round(median, 3), "min_s": round(best, 3),
                                             "cpu_s": round(cpu, 3)}
    print(f"import torch, transformers: median {median:.3f} s (min {best:.3f} s), CPU {cpu:.3f} s")
    load = os.getloadavg()
    results["load_average"] = [round(x, 2) for x in load]
    print(f"load average while measuring (1, 5, 15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for key, value in list(results.items()):
        if key.startswith("status") and isinstance(value, dict):
            value["ratio_to_torch_import"] = round(value["median_s"] / median, 3)  # type: ignore[index]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
