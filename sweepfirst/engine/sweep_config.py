"""A workflow's W&B sweep config for one (task, method), with the task's metric filled in.

W&B semantics hold (a `metric` without `goal` is minimised, as W&B does); a sweep with no
`metric` at all optimises the task's primary metric, maximised.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from sweepfirst.errors import SpecError

if TYPE_CHECKING:
    from sweepfirst.search.config import Metric, SweepConfig
    from sweepfirst.spec import Workflow


def metric_key(name: str) -> str:
    """Metric names as the Trainer reports them: `accuracy` and `eval_accuracy` are the same."""
    return name if name.startswith("eval_") else f"eval_{name}"


def sweep_config_for(workflow: Workflow, task: str, method: str) -> SweepConfig:
    return _parse(workflow.model_dump_json(), task, method)


@lru_cache(maxsize=256)
def _parse(workflow_json: str, task: str, method: str) -> SweepConfig:
    import json

    from sweepfirst.search.config import parse_sweep_config
    from sweepfirst.training.tasks import get_task

    raw = dict(json.loads(workflow_json)["methods"][method]["sweep"])
    spec = get_task(task)
    if not raw.get("metric"):
        raw["metric"] = {"name": spec.primary_metric, "goal": "maximize"}
    where = f"methods.{method}.sweep"
    config = parse_sweep_config(raw, where=where)
    assert config.metric is not None
    # The Trainer reports the evaluation loss for every task.
    available = {metric_key(m) for m in spec.metric_names} | {"eval_loss"}
    if metric_key(config.metric.name) not in available:
        raise SpecError(
            f"{where}.metric.name is {config.metric.name!r}, which task {task} does not report; "
            f"use one of {', '.join(sorted(available))}."
        )
    return config


def sweep_metric(workflow: Workflow, task: str, method: str) -> Metric:
    """The metric (name as the Trainer reports it, and goal) a sweep cell optimises."""
    import dataclasses

    metric = sweep_config_for(workflow, task, method).metric
    assert metric is not None
    return dataclasses.replace(metric, name=metric_key(metric.name))
