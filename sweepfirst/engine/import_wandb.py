"""A finished W&B sweep as the sweep phase of a new run: the seed's Phase 1B and 1C.

``read_wandb_sweep`` reads the sweep's config and its runs through W&B's public API (``wandb.Api``;
``WANDB_BASE_URL`` points it at another server). ``import_sweep`` records each W&B run as a sweep
job of a new run -- finished runs as succeeded, with their config (under the vocabulary's names),
metrics, metric history and W&B run id as provenance; crashed and failed runs as failed -- and
leaves the run in its analysis phase, so ``sweepfirst run --phase analysis`` chooses and
production follows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sweepfirst.errors import SpecError, SweepfirstError
from sweepfirst.methods import complete_hyperparameters, get_method
from sweepfirst.spec import Workflow, validate_workflow
from sweepfirst.states import JobEvent, JobPhase, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context, job_relative_dir
from sweepfirst.store.models import Run
from sweepfirst.sweep_config import metric_key

#: W&B run states that mean the run ended by itself with results.
FINISHED = ("finished",)
#: W&B run states recorded as failed jobs (the run produced no result sweepfirst can use).
BROKEN = ("crashed", "failed", "killed")


@dataclass(frozen=True)
class WandbRun:
    run_id: str
    name: str
    state: str
    config: dict[str, Any]
    summary: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class WandbSweep:
    path: str
    config: dict[str, Any]
    runs: list[WandbRun]


def read_wandb_sweep(path: str) -> WandbSweep:
    """The sweep ``ENTITY/PROJECT/SWEEP_ID`` and its runs, from W&B's public API."""
    if path.count("/") != 2 or not all(path.split("/")):
        raise SpecError(f"{path!r} is not ENTITY/PROJECT/SWEEP_ID; write it like my-team/glue/abc123.")
    import wandb

    try:
        api = wandb.Api(timeout=30)
        sweep = api.sweep(path)
        metric = (sweep.config.get("metric") or {}).get("name")
        runs = []
        for run in sweep.runs:
            history = run.history(keys=[metric], pandas=False) if metric else []
            runs.append(WandbRun(run.id, run.name, run.state, dict(run.config), dict(run.summary),
                                 [dict(row) for row in history]))
    except (wandb.errors.CommError, ValueError) as error:
        raise SweepfirstError(
            f"Could not read the W&B sweep {path} ({str(error).strip().splitlines()[0]}); check the "
            "path, your W&B login (`wandb login`) and WANDB_BASE_URL."
        ) from error
    return WandbSweep(path, dict(sweep.config), runs)


def imported_design(workflow: Workflow, sweep: WandbSweep, *, task: str, method: str,
                    selection_split: str) -> Workflow:
    """The workflow narrowed to ``task``/``method``, the W&B sweep as the method's search space
    (its trial budget: the runs it had), selection split as the user says the metric came from."""
    raw = workflow.model_dump(mode="python")
    if method not in raw["methods"]:
        raise SpecError(f"Method {method!r} is not in workflow {workflow.name!r}; choose from "
                        f"{', '.join(raw['methods'])} or add it to the workflow.")
    spec = raw["methods"][method]
    spec["sweep"] = dict(sweep.config)
    spec["sweep_file"] = f"W&B sweep {sweep.path}"
    spec["budget"] = {"trials": max(1, len(sweep.runs))}
    raw.update(tasks=[task], methods={method: spec})
    raw["selection"] = {**raw["selection"], "split": selection_split}
    return validate_workflow(raw, source=f"W&B sweep {sweep.path}")


def import_sweep(ctx: Context, workflow: Workflow, sweep: WandbSweep, *, task: str, method: str,
                 selection_split: str | None) -> tuple[Run, int, int]:
    """Record ``sweep`` as the sweep phase of a new run; returns the run, jobs succeeded, failed."""
    if selection_split is None:
        raise SpecError(
            f"The runs of W&B sweep {sweep.path} scored their metric on a split of their own script "
            "(most often the dev split production reports on); say which with --selection-split "
            "dev (flagged in the report, like selection.split: dev) or --selection-split "
            "train_holdout if it was held out of train."
        )
    design = imported_design(workflow, sweep, task=task, method=method, selection_split=selection_split)
    from sweepfirst.sweep_config import sweep_config_for

    config = sweep_config_for(design, task, method)
    assert config.metric is not None  # sweep_config_for fills one in
    metric = config.metric.name
    finished = [r for r in sweep.runs if r.state in FINISHED]
    logged = [r for r in finished if _score(r, metric) is not None]
    if not logged:
        raise SpecError(
            f"No finished run of W&B sweep {sweep.path} logged its metric "
            f"{(sweep.config.get('metric') or {}).get('name', metric)!r}; import a sweep whose runs "
            "logged it, or set its metric.name to one they logged."
        )
    info = get_method(method, design.methods[method].peft)
    names = [p.path[0] for p in config.parameters]
    from sweepfirst.engine.orchestrate import _create_run

    with ctx.db.session() as session:
        run = _create_run(session, design, {"imported_from": f"wandb:{sweep.path}"})
        specs = []
        for index, wandb_run in enumerate(sweep.runs):
            values = {k: v for k, v in _canonical_config(info, wandb_run.config, sweep, design).items()
                      if k in names}
            specs.append(job_store.JobSpec(
                phase=JobPhase.SWEEP, task=task, method=method,
                hyperparameters=complete_hyperparameters(info, values), seed=design.seeds.sweep[0],
                trial_index=index, priority=index, max_attempts=1,
                output_dir=job_relative_dir(run.name, "sweep", task, method, f"trial{index:03d}-wandb-{wandb_run.run_id}"),
            ))
        job_store.ensure_jobs(session, run.id, specs)
        run_store.transition_run(session, run.id, Phase.SWEEP, detail=f"imported from W&B sweep {sweep.path}")
        succeeded = failed = 0
        for wandb_run in sweep.runs:
            claimed = job_store.claim_next_job(session, run_ids=[run.id], lease_seconds=60.0,
                                               owner=f"import of W&B sweep {sweep.path}")
            assert claimed is not None  # one pending job per W&B run, claimed in trial order
            _, lease = claimed
            provenance = {"wandb_run_id": wandb_run.run_id, "wandb_run_name": wandb_run.name,
                          "wandb_sweep": sweep.path, "wandb_state": wandb_run.state}
            score = _score(wandb_run, metric)
            if wandb_run.state in FINISHED and score is not None:
                metrics = {metric_key(k): float(v) for k, v in wandb_run.summary.items()
                           if k.startswith(("eval/", "eval_")) and isinstance(v, (int, float))
                           and not isinstance(v, bool)}
                history = {str(row.get("_step", i)): row for i, row in enumerate(wandb_run.history)}
                job_store.finish_job(session, lease, JobEvent.SUCCEEDED, detail=f"W&B run {wandb_run.run_id}",
                                     metrics=metrics, score=score, provenance={**provenance, "history": history})
                succeeded += 1
            else:
                from sweepfirst.attempts import Ending

                why = (f"W&B run {wandb_run.run_id} {wandb_run.state}" if wandb_run.state in BROKEN
                       else f"W&B run {wandb_run.run_id} ({wandb_run.state}) logged no {metric}")
                job_store.end_attempt(session, lease.job_id, Ending.PERMANENT_FAILURE, token=lease.token,
                                      reason=why, values={"provenance": provenance})
                failed += 1
        run_store.transition_run(session, run.id, Phase.ANALYSIS, detail=f"{succeeded} W&B runs imported")
        session.refresh(run)
    return run, succeeded, failed


def _canonical_config(info: Any, config: dict[str, Any], sweep: WandbSweep, design: Workflow) -> dict[str, Any]:
    """The swept values of a W&B run's config under the vocabulary's names (a run's config also
    holds its script's other arguments; W&B may wrap values as ``{"value": x}``)."""
    swept = set(sweep.config.get("parameters") or {})
    plain = {k: (v["value"] if isinstance(v, dict) and set(v) == {"value"} else v)
             for k, v in config.items() if k in swept}
    resolution = info.resolve(plain, where=f"W&B sweep {sweep.path}", parameter_names=design.parameter_names)
    return {knob.name: knob.check(plain[written], f"W&B run config {written}")
            for written, knob in resolution.knobs.items()}


def _score(run: WandbRun, metric: str) -> float | None:
    for key, value in run.summary.items():
        if metric_key(key) == metric and isinstance(value, (int, float)) and not isinstance(value, bool):
            return None if math.isnan(float(value)) else float(value)
    return None

