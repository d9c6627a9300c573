"""A small run recorded by hand through the store API, with job folders written as training
writes them - no training involved.

One task (MRPC, 40 dev examples, 70% positive) x full fine-tuning and LoRA x production seeds
1, 2, 3, with baselines. Every recorded score is exactly the accuracy of the predictions written
for it. LoRA seed 3 collapses onto the positive class (the degenerate run); LoRA's sweep has a
pruned and a failed trial. Sweep jobs record no provenance and production jobs record device and
data fingerprint but no model hash, so the report must recompute the model hash from the files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweepfirst.attempts import Ending
from sweepfirst.spec import validate_workflow
from sweepfirst.states import JobEvent, JobPhase, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context, job_relative_dir

TASK = "mrpc"
DEV_SIZE = 40
#: Gold labels of the dev set: 28 positives then 12 negatives (70% majority class).
LABELS = [1] * 28 + [0] * 12
PRODUCTION_SEEDS = (1, 2, 3)
#: method -> seed -> number of dev examples predicted wrongly (None: the collapsed run).
WRONG = {"full_finetune": {1: 4, 2: 6, 3: 5}, "lora": {1: 7, 2: 8, 3: None}}
BASELINE_WRONG = {"full_finetune": {1: 9, 2: 10, 3: 8}, "lora": {1: 10, 2: 11, 3: 9}}
#: method -> [(learning rate, final selection score or None, outcome)] per sweep trial.
TRIALS: dict[str, list[tuple[float, float | None, JobEvent]]] = {
    "full_finetune": [(2e-5, 0.78, JobEvent.SUCCEEDED), (5e-5, 0.84, JobEvent.SUCCEEDED),
                      (1e-4, 0.80, JobEvent.SUCCEEDED)],
    "lora": [(2e-4, 0.76, JobEvent.SUCCEEDED), (6e-4, 0.81, JobEvent.SUCCEEDED),
             (2e-3, 0.62, JobEvent.PRUNED), (4e-3, None, JobEvent.FAILED)],
}
CHOSEN_TRIAL = {"full_finetune": 1, "lora": 1}
FAKE_WEIGHTS = b"tiny fake weights, hashed not loaded"
DATA_FINGERPRINT = "0123456789abcdef"

WORKFLOW = {
    "name": "handmade",
    "model": "",  # the fake model folder, filled in by record_run
    "tasks": [TASK],
    "methods": {
        "full_finetune": {"sweep": {"method": "grid", "parameters": {
            "learning_rate": {"values": [t[0] for t in TRIALS["full_finetune"]]},
            "per_device_train_batch_size": {"value": 16}}}},
        "lora": {"sweep": {"method": "grid", "parameters": {
            "learning_rate": {"values": [t[0] for t in TRIALS["lora"]]},
            "per_device_train_batch_size": {"value": 16}, "lora_r": {"value": 8}}}},
    },
    "seeds": {"sweep": [0], "production": list(PRODUCTION_SEEDS)},
    "baseline": True,
    "training": {"max_attempts": 1},
}


@dataclass(frozen=True)
class RecordedRun:
    ctx: Context
    name: str
    run_id: int
    model_dir: Path
    data_dir: Path


def predictions_for(wrong: int | None) -> list[int]:
    """Predicted labels with ``wrong`` mistakes spread over both classes; None: all positive."""
    if wrong is None:
        return [1] * DEV_SIZE
    predicted = list(LABELS)
    for i in range(wrong):  # alternate: a false negative, then a false positive
        j = i // 2 if i % 2 == 0 else DEV_SIZE - 1 - i // 2
        predicted[j] = 1 - predicted[j]
    return predicted


def accuracy(predicted: list[int]) -> float:
    return sum(p == g for p, g in zip(predicted, LABELS)) / DEV_SIZE


def f1(predicted: list[int]) -> float:
    """F1 of the positive class (GLUE's MRPC F1): 2 TP / (2 TP + FP + FN)."""
    tp = sum(p == g == 1 for p, g in zip(predicted, LABELS))
    fp = sum(p == 1 and g == 0 for p, g in zip(predicted, LABELS))
    fn = sum(p == 0 and g == 1 for p, g in zip(predicted, LABELS))
    return 2 * tp / (2 * tp + fp + fn)


def write_glue_mrpc(folder: Path, rows: int = 32) -> Path:
    """A GLUE-format MRPC folder (train.tsv and dev.tsv) with ``rows`` rows each."""
    mrpc = folder / "MRPC"
    mrpc.mkdir(parents=True, exist_ok=True)
    words = ["the cat sat", "a dog ran", "stocks fell", "rain is coming", "he said yes",
             "prices rose", "she left early", "the vote passed"]
    for split, offset in (("train", 0), ("dev", 1000)):
        lines = ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"]
        for i in range(rows):
            first = f"{words[i % len(words)]} on day {i}"
            label = i % 3 != 0  # about two thirds paraphrases, as in MRPC
            second = first if label else f"{words[(i + 3) % len(words)]} on day {i + 1}"
            lines.append(f"{int(label)}\t{offset + 2 * i}\t{offset + 2 * i + 1}\t{first}\t{second}")
        (mrpc / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return folder


def _write_outputs(job_dir: Path, predicted: list[int] | None, history: list[float],
                   metric_name: str = "eval_accuracy") -> None:
    job_dir.mkdir(parents=True, exist_ok=True)
    steps = [{"step": 5 * (i + 1), "epoch": (i + 1) / len(history),
              "metrics": {metric_name: v, "eval_loss": 0.7 - 0.1 * i}}
             for i, v in enumerate(history)]
    (job_dir / "metrics.json").write_text(json.dumps({"history": steps, "status": "completed"}))
    (job_dir / "job.json").write_text(json.dumps({"status": "completed"}))
    if predicted is not None:
        lines = [json.dumps({"idx": i, "label": g, "prediction": p,
                             "probabilities": [0.3, 0.7] if p else [0.7, 0.3],
                             "logits": [0.0, 0.85] if p else [0.85, 0.0]})
                 for i, (g, p) in enumerate(zip(LABELS, predicted))]
        # Written out of id order on purpose: readers must align examples by id.
        (job_dir / "predictions.jsonl").write_text("\n".join(reversed(lines)) + "\n")


def _finish(ctx: Context, run_id: int, event: JobEvent, **values: Any) -> int:
    with ctx.db.session() as session:
        claim = job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=60)
        assert claim is not None
        job, lease = claim
        for iteration, score in enumerate(values.pop("intermediate", ()), start=1):
            job_store.record_intermediate(session, lease, iteration, score)
        if event is JobEvent.FAILED:  # the code raised on its only attempt
            job_store.end_attempt(session, lease.job_id, Ending.CODE_FAILURE, token=lease.token,
                                  reason=values["error"])
        else:
            job_store.finish_job(session, lease, event, **values)
        return job.id


def record_run(state_dir: Path, *, failed_production_seed: int | None = None) -> RecordedRun:
    """Record the whole run in ``state_dir``: sweep, analysis, production + baseline, report."""
    model_dir = state_dir.parent / f"{state_dir.name}-model"
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model.safetensors").write_bytes(FAKE_WEIGHTS)
    (model_dir / "config.json").write_text("{}")
    data_dir = write_glue_mrpc(state_dir.parent / f"{state_dir.name}-glue")
    workflow = validate_workflow({**WORKFLOW, "model": str(model_dir)}, source="test")
    ctx = Context.open(state_dir=state_dir, data_dir=data_dir)
    with ctx.db.session() as session:
        run = run_store.create_run(
            session, name="handmade-run", workflow_name=workflow.name,
            spec=workflow.model_dump(mode="json"), spec_hash=workflow.spec_hash(),
            provenance={"packages": {"sweepfirst": "0.1.0", "torch": "2.x"},
                        "git_commit": "abc123def456+dirty",
                        "hardware": {"platform": "Linux-test", "cpus": 2, "python": "3.11",
                                     "gpus": ["NVIDIA H100"]}},
        )
        run_id, name = run.id, run.name
        run_store.transition_run(session, run_id, Phase.SWEEP)

    chosen: dict[str, dict[str, Any]] = {}
    for method, trials in TRIALS.items():
        for index, (lr, score, event) in enumerate(trials):
            hyperparameters = {"learning_rate": lr, "per_device_train_batch_size": 16}
            rel = job_relative_dir(name, "sweep", TASK, method, f"trial{index:03d}-seed0")
            with ctx.db.session() as session:
                job_store.ensure_jobs(session, run_id, [job_store.JobSpec(
                    phase=JobPhase.SWEEP, task=TASK, method=method, hyperparameters=hyperparameters,
                    seed=0, trial_index=index, output_dir=rel, max_attempts=1)])
            if event is JobEvent.FAILED:
                _finish(ctx, run_id, event, error="RuntimeError: loss is nan\nTraceback ...")
                continue
            assert score is not None
            evaluations = [score - 0.1, score - 0.04, score][: 2 if event is JobEvent.PRUNED else 3]
            _write_outputs(ctx.job_dir(rel), None, evaluations)
            _finish(ctx, run_id, event, score=score, metrics={"eval_accuracy": score},
                    intermediate=evaluations)
            if index == CHOSEN_TRIAL[method]:
                chosen[method] = {"hyperparameters": hyperparameters, "score": score}

    with ctx.db.session() as session:
        run_store.transition_run(session, run_id, Phase.ANALYSIS)
        for method, choice in chosen.items():
            run_store.save_selection(
                session, run_id, task=TASK, method=method, hyperparameters=choice["hyperparameters"],
                config_hash=job_store.config_hash(choice["hyperparameters"]),
                metric="eval_accuracy", score=choice["score"],
                metrics={"eval_accuracy": choice["score"]}, split="train_holdout", source="sweep")
        run_store.transition_run(session, run_id, Phase.PRODUCTION)

    for method in TRIALS:
        for phase, wrong_by_seed in ((JobPhase.PRODUCTION, WRONG), (JobPhase.BASELINE,
                                                                    BASELINE_WRONG)):
            for seed in PRODUCTION_SEEDS:
                hyperparameters = (chosen[method]["hyperparameters"] if phase is JobPhase.PRODUCTION
                                   else {"learning_rate": 1e-4})
                rel = job_relative_dir(name, phase.value, TASK, method, f"seed{seed}")
                with ctx.db.session() as session:
                    job_store.ensure_jobs(session, run_id, [job_store.JobSpec(
                        phase=phase, task=TASK, method=method, hyperparameters=hyperparameters,
                        seed=seed, output_dir=rel, max_attempts=1)])
                if (phase is JobPhase.PRODUCTION and method == "lora"
                        and seed == failed_production_seed):
                    _finish(ctx, run_id, JobEvent.FAILED, error="CUDA out of memory")
                    continue
                predicted = predictions_for(wrong_by_seed[method][seed])
                score = accuracy(predicted)
                _write_outputs(ctx.job_dir(rel), predicted, [score - 0.2, score - 0.05, score])
                _finish(ctx, run_id, JobEvent.SUCCEEDED, score=score,
                        metrics={"eval_accuracy": score, "eval_f1": f1(predicted), "eval_loss": 0.5},
                        provenance={"seed": seed, "device": "cuda:0", "precision": "bf16",
                                    "data_fingerprint": DATA_FINGERPRINT, "data_source": "local"})

    with ctx.db.session() as session:
        if failed_production_seed is not None:
            run_store.transition_run(session, run_id, Phase.FAILED, error="1 production job failed")
        else:
            run_store.transition_run(session, run_id, Phase.REPORT)
            run_store.transition_run(session, run_id, Phase.COMPLETED)
    return RecordedRun(ctx=ctx, name=name, run_id=run_id, model_dir=model_dir, data_dir=data_dir)
