"""A workflow's W&B sweep config for one (task, method), with the task's metric filled in and the
parameters under the vocabulary's names, and the method's trial budget folded into run_cap.

W&B semantics hold (a `metric` without `goal` is minimised, as W&B does); a sweep with no
`metric` at all optimises the task's primary metric, maximised.

The metric name is made canonical here, once, so the rest of the code sees one name: the one the
HF Trainer records (`eval_accuracy`, `eval_loss`). `eval/accuracy` (W&B's HF integration),
`eval_accuracy` and `accuracy` (the name `compute_metrics` returns) all mean `eval_accuracy`; a
name the workflow's `parameter_names` maps (`target_test/f1: eval_f1`) means what it maps to.

Parameter names are made canonical here too (:mod:`sweepfirst.vocabulary`): `batch_size` is
`per_device_train_batch_size` in every proposal, job and export; names sweepfirst sets itself
(`output_dir`, `report_to` ...), `fp16`/`bf16` (already in `training.precision`) and
`model_name_or_path` (checked against the model) leave the search space, listed in
`SweepConfig.ignored`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from sweepfirst.errors import SpecError

if TYPE_CHECKING:
    from sweepfirst.search.config import Metric, SweepConfig


class Design(Protocol):
    """A workflow (:class:`sweepfirst.spec.Workflow`) as this module reads it: its JSON.

    Named by what is used rather than imported: the workflow's own validation asks this module for
    its sweeps, so importing the workflow here would make the two import each other.
    """

    def model_dump_json(self) -> str: ...


def metric_key(name: str) -> str:
    """A metric name as the Trainer reports it: `eval/accuracy`, `accuracy` -> `eval_accuracy`."""
    from sweepfirst.search.config import canonical_metric_name

    name = canonical_metric_name(name)
    return name if name.startswith("eval_") else f"eval_{name}"


def sweep_config_for(workflow: Design, task: str, method: str) -> SweepConfig:
    """The parsed sweep of ``method`` for ``task``; its metric name is the Trainer's (see above)."""
    return _parse(workflow.model_dump_json(), task, method)


def trial_cap(config: SweepConfig, budget_trials: int | None) -> int | None:
    """How many trials a sweep may plan: its space, its run_cap and the budget's trials, the
    smallest (``sweep_config_for`` has already folded the budget's trials into run_cap); None when
    only training steps or hours (or nothing) bound it."""
    caps = [n for n in (config.total_trials, budget_trials) if n is not None]
    return min(caps) if caps else None


@lru_cache(maxsize=256)
def _parse(workflow_json: str, task: str, method: str) -> SweepConfig:
    import dataclasses
    import json

    from sweepfirst.methods import get_method
    from sweepfirst.search.config import parse_sweep_config
    from sweepfirst.tasks import get_task

    design = json.loads(workflow_json)
    method_spec = design["methods"][method]
    mapping = design.get("parameter_names") or {}
    raw = dict(method_spec["sweep"])
    spec = get_task(task)
    if not raw.get("metric"):
        raw["metric"] = {"name": spec.primary_metric, "goal": "maximize"}
    elif isinstance(raw["metric"], dict) and raw["metric"].get("name") in mapping:
        mapped = mapping[raw["metric"]["name"]]
        if mapped is None:
            raw["metric"] = {**raw["metric"], "name": spec.primary_metric}
        else:
            raw["metric"] = {**raw["metric"], "name": mapped}
    where = f"methods.{method}.sweep"
    config = parse_sweep_config(raw, where=where)
    budget = method_spec.get("budget") or design.get("budget") or {}
    if budget.get("trials") is not None:
        # A trial budget caps the sweep as run_cap does (the smaller of the two wins).
        cap = budget["trials"] if config.run_cap is None else min(config.run_cap, budget["trials"])
        config = dataclasses.replace(config, run_cap=cap)
    if config.metric is None:
        raise AssertionError("a metric was filled in above")
    # The Trainer reports the evaluation loss for every task.
    available = {metric_key(m) for m in spec.metric_names} | {"eval_loss"}
    name = metric_key(config.metric.name)
    if name not in available:
        file = method_spec.get("sweep_file") or where
        written = method_spec["sweep"].get("metric", {}).get("name", config.metric.name)
        raise SpecError(
            f"{file}: metric.name is {written!r}, which task {task} does not report; use one of "
            f"{', '.join(sorted(available))}, or map it in the workflow: parameter_names: "
            f"{{{written}: {_closest_metric(str(written), available, spec.primary_metric)}}}."
        )
    info = get_method(method, method_spec.get("peft"))
    resolution = info.resolve(
        [p.path[0] for p in config.parameters], where=method_spec.get("sweep_file") or where,
        parameter_names=mapping,
    )
    kept = []
    for param in config.parameters:
        written = param.path[0]
        knob = resolution.knobs.get(written)
        if knob is not None:
            kept.append(dataclasses.replace(param, path=(knob.name, *param.path[1:])))
    ignored = list(resolution.ignored.items())
    ignored += [(n, "in training.precision") for n in resolution.precision]
    ignored += [(n, "the workflow's model") for n in resolution.model]
    return dataclasses.replace(
        config,
        parameters=tuple(sorted(kept, key=lambda p: p.path)),
        metric=dataclasses.replace(config.metric, name=name),
        ignored=tuple(dict.fromkeys(ignored)),
        renamed=tuple(resolution.renamed().items()),
    )


def _closest_metric(written: str, available: set[str], primary: str) -> str:
    """The reported metric a foreign name most likely means: ``target_test/f1`` -> ``eval_f1``."""
    tail = written.lower().replace("/", "_").rsplit("_", 1)[-1]
    for name in sorted(available):
        if name.removeprefix("eval_") in (tail, written.lower()):
            return name
    if "loss" in written.lower() or "perplexity" in written.lower():
        return "eval_loss"
    return primary


def sweep_metric(workflow: Design, task: str, method: str) -> Metric:
    """The metric (name as the Trainer reports it, and goal) a sweep cell optimises."""
    metric = sweep_config_for(workflow, task, method).metric
    if metric is None:
        raise AssertionError("sweep_config_for always fills in a metric")
    return metric
