"""Requests, hyperparameters and the task registry: validated early, without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sweepfirst.errors import SweepfirstError
from sweepfirst.tasks import TASKS, TaskSpec, get_task, register_task
from sweepfirst.training import TrainingRequest, WandbSettings, parse_hyperparameters

REPO_ROOT = Path(__file__).resolve().parents[2]
HP = {"learning_rate": 2e-5, "per_device_train_batch_size": 16, "num_train_epochs": 3}


def request(**overrides: object) -> TrainingRequest:
    values: dict = {
        "task": "mrpc",
        "method": "full_finetune",
        "hyperparameters": HP,
        "seed": 1,
        "model": "bundled-minilm",
        "output_dir": Path("/tmp/job"),
    }
    values.update(overrides)
    return TrainingRequest(**values)


def test_importing_the_light_api_does_not_import_torch() -> None:
    code = (
        "import sys, sweepfirst.training, sweepfirst.training.request, sweepfirst.tasks;"
        "heavy = [m for m in ('torch', 'transformers', 'datasets', 'peft', 'sklearn') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


def test_registry_knows_the_three_glue_tasks() -> None:
    assert {"mrpc", "sst2", "rte"} <= set(TASKS)
    mrpc, sst2, rte = get_task("mrpc"), get_task("sst2"), get_task("rte")
    assert mrpc.glue is not None and mrpc.glue.folder == "MRPC"
    assert sst2.glue is not None and sst2.glue.folder == "SST-2" and sst2.num_text_fields == 1
    assert rte.glue is not None and dict(rte.glue.label_values) == {
        "entailment": 0,
        "not_entailment": 1,
    }
    assert rte.label_names == ("entailment", "not_entailment")
    assert mrpc.metric_names == ("accuracy", "f1") and sst2.metric_names == ("accuracy",)
    assert all(t.primary_metric == "eval_accuracy" for t in (mrpc, sst2, rte))
    assert all(t.kind == "sequence_classification" for t in (mrpc, sst2, rte))


def test_unknown_task_lists_the_valid_names() -> None:
    with pytest.raises(SweepfirstError, match="Unknown task 'cola'.*mrpc, rte, sst2"):
        get_task("cola")
    with pytest.raises(SweepfirstError, match="Unknown task"):
        request(task="cola")


def test_compute_metrics_uses_glue_definitions() -> None:
    metrics = get_task("mrpc").compute_metrics([1, 1, 0, 0], [1, 0, 0, 1])
    assert metrics == {"accuracy": 0.5, "f1": 0.5}
    assert get_task("rte").compute_metrics([0, 1, 1], [0, 1, 0]) == {
        "accuracy": pytest.approx(2 / 3)
    }


def test_a_question_answering_task_can_register_but_is_refused_by_the_runner(
    tmp_path: Path,
) -> None:
    from sweepfirst.training.runner import run_training

    register_task(
        TaskSpec(
            name="squad_v2_test",
            kind="question_answering",
            label_names=(),
            primary_metric="eval_f1",
            metric_names=("exact", "f1"),
        )
    )
    try:
        req = request(task="squad_v2_test", output_dir=tmp_path / "qa")
        with pytest.raises(SweepfirstError, match="question_answering.*not implemented"):
            run_training(req)
    finally:
        TASKS.pop("squad_v2_test")


@pytest.mark.parametrize(
    ("method", "values", "message"),
    [
        ("full_finetune", {**HP, "learning_rte": 1e-5}, "Unknown hyperparameter.*learning_rte"),
        ("full_finetune", {**HP, "lora_r": 8}, "lora_r only apply to method 'lora'"),
        ("lora", {**HP, "lora_alpha": 16}, "Missing hyperparameter.*lora_r"),
        (
            "full_finetune",
            {"learning_rate": 1e-5, "num_train_epochs": 1},
            "Missing.*per_device_train_batch_size",
        ),
        ("full_finetune", {**HP, "learning_rate": -1.0}, "learning_rate=-1.0 is out of range"),
        ("full_finetune", {**HP, "warmup_ratio": 1.5}, "warmup_ratio=1.5 is out of range"),
        ("full_finetune", {**HP, "per_device_train_batch_size": 8.5}, "must be a whole number"),
        ("full_finetune", {**HP, "learning_rate": True}, "must be a finite number"),
        ("prefix_tuning", HP, "Unknown method 'prefix_tuning'"),
    ],
)
def test_bad_hyperparameters_fail_with_one_clear_sentence(
    method: str, values: dict, message: str
) -> None:
    with pytest.raises(SweepfirstError, match=message):
        parse_hyperparameters(method, values)
    with pytest.raises(SweepfirstError, match=message):
        request(method=method, hyperparameters=values)


def test_hyperparameter_defaults_are_filled_in() -> None:
    params = parse_hyperparameters(
        "lora", {**HP, "lora_r": 8, "lora_alpha": 16, "per_device_train_batch_size": 16.0}
    )
    assert params.warmup_ratio == 0.0 and params.weight_decay == 0.0 and params.lora_dropout == 0.0
    assert params.per_device_train_batch_size == 16 and isinstance(
        params.per_device_train_batch_size, int
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("evaluation", "test", "Unknown evaluation"),
        ("selection_fraction", 1.0, "selection_fraction"),
        ("precision", "int8", "Unknown precision"),
        ("max_train_samples", 0, "max_train_samples"),
        ("evaluations_per_epoch", 0, "evaluations_per_epoch"),
    ],
)
def test_bad_request_fields_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(SweepfirstError, match=message):
        request(**{field: value})


def test_fingerprint_covers_what_changes_the_result_and_nothing_else() -> None:
    base = request()
    assert base.fingerprint() == request().fingerprint()
    # Where things go and how they are watched does not change the result.
    same = request(
        output_dir=Path("/elsewhere"),
        data_dir=Path("/data/glue"),
        cache_dir=Path("/cache"),
        wandb=WandbSettings(mode="offline", run_id="abc"),
        save_checkpoints=False,
    )
    assert same.fingerprint() != base.fingerprint()  # data_dir: local files instead of the Hub
    assert same.fingerprint() == request(data_dir=Path("/other/glue")).fingerprint()
    # Defaults written out or left out are the same job.
    assert request(hyperparameters={**HP, "warmup_ratio": 0.0}).fingerprint() == base.fingerprint()
    for change in (
        {"seed": 2},
        {"hyperparameters": {**HP, "learning_rate": 3e-5}},
        {"selection_seed": 1},
        {"max_seq_length": 64},
        {"evaluation": "dev"},
        {"model": "bert-base-uncased"},
    ):
        assert request(**change).fingerprint() != base.fingerprint(), change


def test_request_round_trips_to_json() -> None:
    req = request(wandb=WandbSettings(mode="offline", tags=("a", "b")))
    data = json.loads(json.dumps(req.to_json()))
    assert data["output_dir"] == "/tmp/job"
    assert data["wandb"]["tags"] == ["a", "b"]
    assert data["hyperparameters"] == HP
