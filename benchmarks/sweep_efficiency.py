"""What a sweep spends for what it finds: full grid vs the same grid under ASHA vs bayes, on MRPC.

The same search space (learning_rate x warmup_ratio x per_device_train_batch_size) is swept three
ways through sweepfirst itself -- ``sweepfirst run WF --phase sweep --in-process`` on a workflow
YAML written into a temporary folder, one state folder per way:

* ``grid``: every configuration, trained to the end, one evaluation per epoch;
* ``asha``: the same grid with ``early_terminate: {type: hyperband, min_iter: 1, eta: 3}`` and
  6 evaluations per epoch (the rungs are evaluation counts: 1, 3, 9 of 12 in 2 epochs); a trial
  outside the top third of its rung pauses, and resumes from its checkpoint when later trials
  put it in the top third (ASHA's promotion), so this way always writes checkpoints;
* ``bayes``: ``method: bayes`` with ``run_cap`` a third of the grid.

Per way: training steps spent (the sum of every sweep job's ``global_step`` from its ``job.json``;
pruned jobs count the steps they ran, promoted ones the steps up to where they ended, each step
once since they resume from their checkpoints), training examples (steps x batch size), the time inside
jobs spent training and evaluating (from each job's history), wall and CPU time of the whole
command, and the best selection score (the maximum recorded score over trials that finished, as
``sweepfirst jobs list --json`` reports it; the best over pruned trials' last scores too).

    HF_HUB_OFFLINE=1 python benchmarks/sweep_efficiency.py --json-out benchmarks/out/sweep_efficiency.json

The target: ASHA within 0.5 accuracy points of the grid's best with at most a third of its steps.

ASHA ranks trials at a rung by the sweep metric (accuracy) and breaks exact ties by
``eval_loss``: early in training most trials sit at exactly the majority-class accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "glue"
WAYS = ("grid", "asha", "bayes")


@dataclass
class JobFigures:
    trial: int | None
    state: str
    hyperparameters: dict[str, Any]
    score: float | None
    global_step: int
    examples: int
    evaluations: int
    train_s: float
    eval_s: float
    runtime_s: float | None
    #: every evaluation: {"step", "eval_accuracy", "eval_loss"}
    curve: list[dict[str, float]] = field(default_factory=list)


@dataclass
class WayResult:
    way: str
    trials: int
    succeeded: int
    pruned: int
    failed: int
    steps: int
    examples: int
    evaluations: int
    train_s: float
    eval_s: float
    jobs_s: float  # the jobs' recorded runtimes (data, model load, training, evaluation)
    wall_s: float
    cpu_s: float
    best_score: float | None
    best_hyperparameters: dict[str, Any] | None
    best_score_any: float | None  # including pruned trials' last recorded score
    load_before: float
    load_after: float
    jobs: list[JobFigures] = field(default_factory=list)


def workflow(way: str, args: argparse.Namespace) -> dict[str, Any]:
    """The workflow of one way; everything but the search differs nowhere."""
    grid_size = len(args.learning_rates) * len(args.warmups) * len(args.batch_sizes)
    sweep: dict[str, Any] = {
        "method": "bayes" if way == "bayes" else "grid",
        "metric": {"name": "eval_accuracy", "goal": "maximize"},
        "parameters": {
            "learning_rate": {"values": list(args.learning_rates)},
            "warmup_ratio": {"values": list(args.warmups)},
            "per_device_train_batch_size": {"values": list(args.batch_sizes)},
            "num_train_epochs": {"value": args.epochs},
        },
    }
    if way == "bayes":
        sweep["run_cap"] = max(1, round(grid_size / 3))
    if way == "asha":
        sweep["early_terminate"] = {"type": "hyperband", "min_iter": args.min_iter, "eta": args.eta}
    return {
        "name": f"bench-{way}",
        "description": f"sweep_efficiency benchmark: {way}",
        "model": "bundled-minilm",
        "tasks": ["mrpc"],
        "methods": {"full_finetune": {"sweep": sweep}},
        "seeds": {"sweep": [args.sweep_seed], "production": [42]},
        "selection": {"split": "train_holdout", "fraction": args.selection_fraction},
        "data": {"source": "local", "max_train_samples": args.max_train_samples,
                 "max_eval_samples": args.max_eval_samples, "max_seq_length": args.max_seq_length},
        "training": {
            "evaluations_per_epoch": args.evaluations_per_epoch if way == "asha" else 1,
            # ASHA's paused trials resume from the checkpoint they paused at when promoted.
            "save_checkpoints": True if way == "asha" else args.save_checkpoints,
        },
        "wandb": {"mode": "disabled"},
    }


def run_way(way: str, args: argparse.Namespace, work: Path) -> WayResult:
    folder = work / way
    saved = folder / "result.json"
    if args.reuse and saved.is_file():
        print(f"{way}: reusing {saved}", flush=True)
        result = _load_result(saved)
        if (folder / "state").is_dir():  # re-read the jobs: figures added since are filled in
            result.jobs = _list_jobs(folder / "state")
        return result
    if folder.exists():
        shutil.rmtree(folder)  # a half-finished earlier attempt: start this way afresh
    folder.mkdir(parents=True)
    path = folder / "workflow.yaml"
    path.write_text(yaml.safe_dump(workflow(way, args), sort_keys=False))
    state = folder / "state"
    command = [_sweepfirst(), "run", str(path), "--phase", "sweep", "--state-dir", str(state),
               "--data-dir", str(args.data_dir), "--in-process"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    load_before = os.getloadavg()[0]
    cpu_before = _children_cpu()
    began = time.perf_counter()
    with (folder / "cli.log").open("w") as log:
        completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
    wall = time.perf_counter() - began
    cpu = _children_cpu() - cpu_before
    load_after = os.getloadavg()[0]
    if completed.returncode != 0:
        tail = (folder / "cli.log").read_text()[-3000:]
        raise SystemExit(f"`{' '.join(command)}` exited with {completed.returncode}:\n{tail}")

    jobs = _list_jobs(state)
    finished = [j for j in jobs if j.state == "succeeded" and j.score is not None]
    best = max(finished, key=lambda j: j.score or 0.0, default=None)
    scored = [j.score for j in jobs if j.score is not None]
    result = WayResult(
        way=way, trials=len(jobs),
        succeeded=sum(j.state == "succeeded" for j in jobs), pruned=sum(j.state == "pruned" for j in jobs),
        failed=sum(j.state not in ("succeeded", "pruned") for j in jobs),
        steps=sum(j.global_step for j in jobs), examples=sum(j.examples for j in jobs),
        evaluations=sum(j.evaluations for j in jobs),
        train_s=sum(j.train_s for j in jobs), eval_s=sum(j.eval_s for j in jobs),
        jobs_s=sum(j.runtime_s or 0.0 for j in jobs), wall_s=wall, cpu_s=cpu,
        best_score=best.score if best else None, best_hyperparameters=best.hyperparameters if best else None,
        best_score_any=max(scored, default=None),
        load_before=load_before, load_after=load_after, jobs=jobs,
    )
    saved.write_text(json.dumps(asdict(result), indent=2))
    return result


def _load_result(path: Path) -> WayResult:
    data = json.loads(path.read_text())
    data["jobs"] = [JobFigures(**job) for job in data["jobs"]]
    return WayResult(**data)


def _list_jobs(state: Path) -> list[JobFigures]:
    """The sweep jobs as ``sweepfirst jobs list --json`` reports them, with their job.json figures."""
    listing = subprocess.run(
        [_sweepfirst(), "jobs", "list", "--json", "--phase", "sweep", "--state-dir", str(state)],
        capture_output=True, text=True, check=True,
    )
    return [_job_figures(job, state) for job in json.loads(listing.stdout)]


def _job_figures(job: dict[str, Any], state: Path) -> JobFigures:
    record = json.loads((state / job["output_dir"] / "job.json").read_text())
    history = record.get("history") or []
    eval_s = sum(float(h["metrics"].get("eval_runtime", 0.0)) for h in history)
    steps = int(record.get("global_step", 0))
    batch = int(job["hyperparameters"]["per_device_train_batch_size"])
    examples_per_epoch = int(record.get("num_train_examples", 0))
    return JobFigures(
        trial=job["trial_index"], state=job["state"], hyperparameters=job["hyperparameters"],
        score=job["score"], global_step=steps,
        examples=_examples_seen(steps, batch, examples_per_epoch),
        evaluations=len(history), train_s=float(record.get("train_runtime_s", 0.0)) - eval_s, eval_s=eval_s,
        runtime_s=job.get("runtime_s"),
        curve=[{"step": h["step"], "eval_accuracy": h["metrics"].get("eval_accuracy", float("nan")),
                "eval_loss": h["metrics"].get("eval_loss", float("nan"))} for h in history],
    )


def _examples_seen(steps: int, batch: int, per_epoch: int) -> int:
    """Examples trained on in ``steps`` steps (each epoch's last batch may be short)."""
    if per_epoch <= 0:
        return steps * batch
    steps_per_epoch = -(-per_epoch // batch)
    epochs, rest = divmod(steps, steps_per_epoch)
    return epochs * per_epoch + min(rest * batch, per_epoch)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _sweepfirst() -> str:
    found = shutil.which("sweepfirst") or str(Path(sys.executable).with_name("sweepfirst"))
    return found


def report(results: dict[str, WayResult], args: argparse.Namespace) -> list[str]:
    header = (f"{'way':<7}{'trials':>7}{'pruned':>7}{'steps':>7}{'examples':>9}{'evals':>6}{'train s':>9}"
              f"{'eval s':>8}{'jobs s':>8}{'wall s':>8}{'cpu s':>8}{'best':>8}{'best*':>8}  load")
    lines = [header]
    for r in results.values():
        lines.append(
            f"{r.way:<7}{r.trials:>7}{r.pruned:>7}{r.steps:>7}{r.examples:>9}{r.evaluations:>6}{r.train_s:>9.0f}"
            f"{r.eval_s:>8.0f}{r.jobs_s:>8.0f}{r.wall_s:>8.0f}{r.cpu_s:>8.0f}{_fmt(r.best_score):>8}{_fmt(r.best_score_any):>8}"
            f"  {r.load_before:.1f}->{r.load_after:.1f}")
    lines.append("train s / eval s: inside the jobs' training loops; jobs s: the jobs' recorded runtimes "
                 "(+ data, model load, the first job's imports); wall s / cpu s: the whole command")
    lines.append("best: max score over finished trials; best*: also over pruned trials' last scores")
    grid = results.get("grid")
    for way in ("asha", "bayes"):
        other = results.get(way)
        if grid is None or other is None or not grid.steps:
            continue
        diff = ("n/a" if grid.best_score is None or other.best_score is None
                else f"{100 * (other.best_score - grid.best_score):+.2f}")
        lines.append(
            f"{way} vs grid: {other.steps / grid.steps:.1%} of the steps ({other.examples / grid.examples:.1%} of the "
            f"examples), {other.wall_s / grid.wall_s:.1%} of the wall time, best {diff} accuracy points vs grid")
    if grid is not None and "asha" in results:
        asha = results["asha"]
        same = _same_config_scores(grid, asha)
        if same:
            lines.append("ASHA trials that ran to the end vs the grid's same configuration: "
                         + ", ".join(f"trial {t}: {a:.4f} vs {g:.4f}" for t, a, g in same))
        ok_steps = asha.steps <= grid.steps / 3
        ok_score = (grid.best_score is not None and asha.best_score is not None
                    and grid.best_score - asha.best_score <= 0.005)
        lines.append(f"target (ASHA within 0.5 points of the grid's best with <= 1/3 of its steps): "
                     f"steps {'met' if ok_steps else 'MISSED'}, score {'met' if ok_score else 'MISSED'}")
    return lines


def _same_config_scores(grid: WayResult, other: WayResult) -> list[tuple[int | None, float, float]]:
    by_config = {json.dumps(j.hyperparameters, sort_keys=True): j for j in grid.jobs}
    pairs = []
    for job in other.jobs:
        match = by_config.get(json.dumps(job.hyperparameters, sort_keys=True))
        if job.state == "succeeded" and match is not None and job.score is not None and match.score is not None:
            pairs.append((job.trial, job.score, match.score))
    return pairs


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("SWEEPFIRST_DATA_DIR", DEFAULT_DATA_DIR)))
    parser.add_argument("--ways", nargs="+", choices=WAYS, default=list(WAYS))
    parser.add_argument("--max-train-samples", type=int, default=256)
    parser.add_argument("--max-eval-samples", type=int, default=None,
                        help="Cap on the selection split (default: all of it, 10%% of MRPC train = 367).")
    parser.add_argument("--selection-fraction", type=float, default=0.1)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--learning-rates", type=float, nargs="+", default=[3e-5, 1e-4, 3e-4])
    parser.add_argument("--warmups", type=float, nargs="+", default=[0.0, 0.1])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--evaluations-per-epoch", type=int, default=6, help="For the ASHA way (the others: 1).")
    parser.add_argument("--min-iter", type=int, default=1)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--sweep-seed", type=int, default=0)
    parser.add_argument("--save-checkpoints", action="store_true",
                        help="Write resumable checkpoints in the grid and bayes ways too, as a production sweep "
                             "would (slower; the ASHA way always does: promotions resume from them).")
    parser.add_argument("--work-dir", type=Path, help="Keep the state folders here (default: a temp folder).")
    parser.add_argument("--reuse", action="store_true",
                        help="Reuse a way's result.json in --work-dir from an earlier, interrupted invocation.")
    parser.add_argument("--json-out", type=Path, help="Also write the results here.")
    args = parser.parse_args()
    if args.reuse and not args.work_dir:
        parser.error("--reuse needs --work-dir (the folder of the earlier invocation).")

    temp = None if args.work_dir else tempfile.TemporaryDirectory(prefix="sweepfirst-sweep-efficiency-")
    work = args.work_dir or Path(temp.name)  # type: ignore[union-attr]
    results: dict[str, WayResult] = {}
    began = time.perf_counter()
    try:
        for way in args.ways:
            results[way] = run_way(way, args, work)
            r = results[way]
            print(f"{way}: {r.trials} trials ({r.pruned} pruned), {r.steps} steps, {r.wall_s:.0f} s wall, "
                  f"best {_fmt(r.best_score)}, load {r.load_before:.1f}->{r.load_after:.1f}", flush=True)
    finally:
        if temp is not None:
            temp.cleanup()
    elapsed = time.perf_counter() - began
    load = os.getloadavg()
    print(f"\n{os.cpu_count()} CPUs, load average now {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; {elapsed:.0f} s in all")
    print(f"MRPC: {args.max_train_samples} training examples, selection split {args.selection_fraction:g} of train"
          f"{'' if args.max_eval_samples is None else f' (at most {args.max_eval_samples})'}, max_seq_length "
          f"{args.max_seq_length}, {args.epochs:g} epochs; grid lr {args.learning_rates} x warmup {args.warmups} x "
          f"batch {args.batch_sizes}; ASHA min_iter {args.min_iter}, eta {args.eta}, "
          f"{args.evaluations_per_epoch} evaluations/epoch")
    for line in report(results, args):
        print(line)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps({
            "cpus": os.cpu_count(), "load_average_end": load, "elapsed_s": elapsed,
            "setting": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "workflows": {way: workflow(way, args) for way in args.ways},
            "results": {way: asdict(r) for way, r in results.items()},
        }, indent=2))


if __name__ == "__main__":
    main()
