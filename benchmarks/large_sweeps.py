"""Large sweeps: bayes proposal latency up to 2,000 trials, and planning a 10,000-job grid.

1. A bayes (TPE) sweep of ``--trials`` no-op trials whose score is a known function of the
   configuration (best at learning rate 1e-4, warmup 0.06, batch 16). One proposal at a time, as a
   coordinator with one free slot asks; each trial "finishes" at once with its score. Reported:
   the proposal latency of the coordinator's kept study (median of the 5 proposals ending at trial
   10, 100, 1,000 and 2,000), and for comparison that of a study rebuilt from the whole history
   (what every proposal cost before, and what a coordinator pays once on start-up or takeover).
2. Planning a grid of ``--grid-jobs`` configurations (one sweep seed) with the real planner
   (`engine.planner.plan_sweep`) into a real state database: the first round, which creates every
   job, and a second round, which finds them all there (idempotent planning).

    python benchmarks/large_sweeps.py --json-out benchmarks/out/large_sweeps.json
    python benchmarks/large_sweeps.py --db-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sweepfirst.engine.planner import plan_sweep
from sweepfirst.search.bayes import BayesProposer
from sweepfirst.search.config import parse_sweep_config
from sweepfirst.search.trials import TrialObservation
from sweepfirst.spec import Workflow, load_workflow
from sweepfirst.states import Phase
from sweepfirst.store import runs as run_store
from sweepfirst.store.database import Database

REPO_ROOT = Path(__file__).resolve().parents[1]
BAYES = {
    "method": "bayes",
    "metric": {"name": "eval_accuracy", "goal": "maximize"},
    "parameters": {
        "learning_rate": {"distribution": "log_uniform_values", "min": 1.0e-5, "max": 1.0e-3},
        "warmup_ratio": {"distribution": "uniform", "min": 0.0, "max": 0.2},
        "per_device_train_batch_size": {"values": [8, 16, 32]},
    },
}


def known_score(config: dict[str, Any]) -> float:
    return (1.0 - abs(math.log10(config["learning_rate"]) + 4) - abs(config["warmup_ratio"] - 0.06)
            - (0.0 if config["per_device_train_batch_size"] == 16 else 0.1))


def bayes_latency(trials: int, checkpoints: list[int]) -> dict[str, Any]:
    config = parse_sweep_config(BAYES, where="benchmark")
    kept = BayesProposer(config, seed=1)
    history: list[TrialObservation] = []
    latencies: list[float] = []
    rebuilt: dict[int, float] = {}
    began = time.perf_counter()
    for n in range(1, trials + 1):
        if n in checkpoints:
            fresh = BayesProposer(config, seed=1)
            t = time.perf_counter()
            fresh.propose(history, 1)
            rebuilt[n] = time.perf_counter() - t
        t = time.perf_counter()
        (proposal,) = kept.propose(history, 1)
        latencies.append(time.perf_counter() - t)
        history.append(TrialObservation(proposal, known_score(proposal), "complete"))
    best = max(history, key=lambda o: o.score or -math.inf)
    return {
        "trials": trials,
        "seconds": round(time.perf_counter() - began, 1),
        "kept_ms": {n: round(statistics.median(latencies[max(0, n - 5):n]) * 1000, 1) for n in checkpoints},
        "rebuilt_ms": {n: round(s * 1000, 1) for n, s in rebuilt.items()},
        "rebuilds": kept.rebuilds,
        "best_score": round(best.score or 0.0, 4),
        "best": dict(best.params),
    }


def grid_workflow(jobs: int) -> Workflow:
    """smoke.yaml restricted to mrpc/full_finetune with a grid of ``jobs`` learning rates."""
    base = load_workflow(REPO_ROOT / "workflows" / "smoke.yaml").restricted(["mrpc"], ["full_finetune"])
    spec = copy.deepcopy(base.model_dump(mode="json"))
    rates = [round(1e-5 + i * 1e-8, 10) for i in range(jobs)]
    spec["methods"]["full_finetune"]["sweep"] = {
        "method": "grid",
        "run_cap": jobs,  # a grid this size is refused without a cap that says it is meant
        "metric": {"name": "eval_accuracy", "goal": "maximize"},
        "parameters": {"learning_rate": {"values": rates}, "per_device_train_batch_size": {"value": 8},
                       "num_train_epochs": {"value": 1}},
    }
    spec["seeds"]["sweep"] = [0]
    return Workflow.model_validate(spec)


def grid_planning(url: str, jobs: int) -> dict[str, Any]:
    db = Database(url)
    db.create_schema()
    workflow = grid_workflow(jobs)
    with db.session() as session:
        run = run_store.create_run(session, name=f"grid-{uuid.uuid4().hex[:8]}", workflow_name="grid",
                                   spec=workflow.model_dump(mode="json"), spec_hash="grid")
        run_store.transition_run(session, run.id, Phase.SWEEP, detail="benchmark")
        run_id = run.id
    rounds = []
    for _ in range(2):
        t = time.perf_counter()
        with db.session() as session:
            plan_sweep(session, run_store.find_run(session, run_id), workflow, parallel_trials=1)
        rounds.append(round(time.perf_counter() - t, 2))
    db.dispose()
    return {"jobs": jobs, "first_round_s": rounds[0], "second_round_s": rounds[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--grid-jobs", type=int, default=10_000)
    parser.add_argument("--db-url", help="Also plan the grid in this PostgreSQL database (a throw-away schema).")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    checkpoints = [n for n in (10, 100, 1000, 2000) if n <= args.trials]
    results: dict[str, Any] = {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        results["grid_sqlite"] = grid_planning(f"sqlite:///{Path(tmp) / 'grid.db'}", args.grid_jobs)
    print("grid planning, SQLite:", results["grid_sqlite"], flush=True)
    if args.db_url:
        import sqlalchemy as sa

        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(args.db_url)
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            sep = "&" if "?" in args.db_url else "?"
            results["grid_postgresql"] = grid_planning(f"{args.db_url}{sep}options=-csearch_path%3D{schema}",
                                                       args.grid_jobs)
        finally:
            with admin.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()
        print("grid planning, PostgreSQL:", results["grid_postgresql"], flush=True)
    results["bayes"] = bayes_latency(args.trials, checkpoints)
    print("bayes:", results["bayes"], flush=True)
    results["load_average_after"] = os.getloadavg()
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
