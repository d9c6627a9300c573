"""A workflow's W&B sweep config for one (task, method), with the task's metric filled in.

W&B semantics hold (a `metric` without `goal` is minimised, as W&B does); a sweep with no
`metric` at all optimises the task's primary metric, maximised.

The metric name is made canonical here, once, so the rest of the code sees one name: the one the
HF Trainer records (`eval_accuracy`, `eval_loss`). `eval/accuracy` (W&B's HF integration),
`eval_accuracy` and `accuracy` (the name `compute_metrics` returns) all mean `eval_accuracy`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from sweepfirst.errors import SpecError

if TYPE_CHECKING:
    from sweepfirst.search.config import Metric, SweepConfig
    from sweepfirst.spec import Workflow


def metric_key(name: str) -> str:
    """A metric name as the Trainer reports it: `eval/accuracy`, `accuracy` -> `eval_accuracy`."""
    from sweepfirst.search.config import canonical_metric_name

    name = canonical_metric_name(name)
    return name if name.startswith("eval_") else f"eval_{name}"


def sweep_config_for(workflow: Workflow, task: str, method: str) -> SweepConfig:
    """The parsed sweep of ``method`` for ``task``; its metric name is the Trainer's (see above)."""
    return _parse(workflow.model_dump_json(), task, method)


@lru_cache(maxsize=256)
def _parse(workflow_json: str, task: str, method: str) -> SweepConfig:
    import dataclasses
    import json

    from sweepfirst.search.config import parse_sweep_config
    from sweepfirst.training.tasks import get_task

    raw = dict(json.loads(workflow_json)["methods"][method]["sweep"])
    spec = get_task(task)
    if not raw.get("metric"):
        raw["metric"] = {"name": spec.primary_metric, "goal": "maximize"}
    where = f"methods.{method}.sweep"
    config = parse_sweep_config(raw, where=where)
    if config.metric is None:
        raise AssertionError("a metric was filled in above")
    # The Trainer reports the evaluation loss for every task.
    available = {metric_key(m) for m in spec.metric_names} | {"eval_loss"}
    name = metric_key(config.metric.name)
    if name not in available:
        raise SpecError(
            f"{where}.metric.name is {config.metric.name!r}, which task {task} does not report; "
            f"use one of {', '.join(sorted(available))}."
        )
    return dataclasses.replace(config, metric=dataclasses.replace(config.metric, name=name))


def sweep_metric(workflow: Workflow, task: str, method: str) -> Metric:
    """The metric (name as the Trainer reports it, and goal) a sweep cell optimises."""
    metric = sweep_config_for(workflow, task, method).metric
    if metric is None:
        raise AssertionError("sweep_config_for always fills in a metric")
    return metric
