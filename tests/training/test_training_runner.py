"""Real training on the tiny BERT and real RTE data: results, LoRA, pruning, stop/resume."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from training_support import FULL_HP, RequestFactory, StopAtStep

from sweepfirst.errors import SweepfirstError
from sweepfirst.tasks import get_task
from sweepfirst.training import TrainingResult, WandbSettings
from sweepfirst.training.checkpoints import latest_checkpoint, list_checkpoints
from sweepfirst.training.runner import run_training


class PruneAtFirstEvaluation:
    def __init__(self) -> None:
        self.seen: list[tuple[int, float, dict[str, float]]] = []

    def on_evaluation(self, step: int, epoch: float, metrics: Mapping[str, float], evaluation: int) -> bool:
        self.seen.append((step, epoch, dict(metrics)))
        return False

    def on_step(self, step: int) -> None:
        return None

    def should_stop(self) -> bool:
        return False


class RecordEvaluations:
    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []  # (step, evaluation number)

    def on_evaluation(self, step: int, epoch: float, metrics: Mapping[str, float], evaluation: int) -> bool:
        self.seen.append((step, evaluation))
        return True

    def on_step(self, step: int) -> None:
        return None

    def should_stop(self) -> bool:
        return False


def read_predictions(output_dir: Path) -> list[dict]:
    lines = (output_dir / "predictions.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_full_finetune_trains_and_writes_metrics_and_predictions(
    make_request: RequestFactory,
) -> None:
    request = make_request("full")
    result = run_training(request)

    assert result.status == "completed"
    # 32 examples / batch 8 = 4 steps per epoch, 2 epochs, evaluated twice per epoch.
    assert result.global_step == 8
    assert [h["step"] for h in result.history] == [2, 4, 6, 8]
    assert result.primary_metric == "eval_accuracy"
    assert result.score == result.metrics["eval_accuracy"]
    assert {"eval_loss", "eval_accuracy"} <= set(result.metrics)
    assert result.num_train_examples == 32 and result.num_eval_examples == 16
    assert result.train_samples_per_second > 0
    assert result.resumed_from is None

    out = request.output_dir
    recorded = json.loads((out / "metrics.json").read_text())
    assert TrainingResult.from_json(recorded) == result
    predictions = read_predictions(out)
    assert len(predictions) == 16
    assert [p["idx"] for p in predictions] == sorted(p["idx"] for p in predictions)
    for p in predictions:
        assert p["prediction"] == max(range(2), key=lambda i: p["logits"][i])
        assert sum(p["probabilities"]) == pytest.approx(1.0, abs=1e-5)
    accuracy = sum(p["prediction"] == p["label"] for p in predictions) / len(predictions)
    assert accuracy == pytest.approx(result.metrics["eval_accuracy"])
    assert (out / "train.log").read_text().count("Running training") == 1
    assert [c.name for c in list_checkpoints(out)] == ["checkpoint-6", "checkpoint-8"]
    assert not (out / ".staging").exists()

    # Called again, a completed job returns its recorded result instead of training again.
    assert run_training(request) == result


def test_lora_trains_only_adapters_and_the_classifier_head(make_request: RequestFactory) -> None:
    from peft import PeftModel

    from sweepfirst.training.models import build_model

    request = make_request("lora", method="lora")
    model = build_model(
        request.model, get_task("rte"), "lora", request.parsed_hyperparameters, seed=0
    )
    assert isinstance(model, PeftModel)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable
    assert all("lora_" in name or "classifier" in name for name in trainable)
    assert any("classifier" in name for name in trainable)
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable if "lora_" in n} == {
        "query",
        "value",
    }

    result = run_training(request)
    assert result.status == "completed" and result.global_step == 8
    assert result.extra["trainable_parameters"] < result.extra["total_parameters"] / 100
    assert len(read_predictions(request.output_dir)) == 16
    checkpoint = latest_checkpoint(request.output_dir)
    assert checkpoint is not None and (checkpoint / "adapter_model.safetensors").is_file()


def test_hooks_can_prune_a_job_and_its_checkpoint_is_kept(make_request: RequestFactory) -> None:
    request = make_request("pruned")
    hooks = PruneAtFirstEvaluation()
    result = run_training(request, hooks)

    assert result.status == "pruned"
    assert result.global_step == 2
    assert [step for step, _, _ in hooks.seen] == [2]
    assert hooks.seen[0][1] == pytest.approx(0.5)
    assert "eval_accuracy" in hooks.seen[0][2]
    assert [c.name for c in list_checkpoints(request.output_dir)] == ["checkpoint-2"]
    assert json.loads((request.output_dir / "metrics.json").read_text())["status"] == "pruned"


def test_stop_request_saves_and_a_second_call_resumes_to_the_same_end(
    make_request: RequestFactory,
) -> None:
    uninterrupted = run_training(make_request("straight", method="lora"))

    request = make_request("stopped", method="lora")
    first = run_training(request, StopAtStep(3))  # step 3 is not an evaluation step
    assert first.status == "interrupted"
    assert first.global_step == 3
    assert not (request.output_dir / "metrics.json").exists()
    assert [c.name for c in list_checkpoints(request.output_dir)] == [
        "checkpoint-2",
        "checkpoint-3",
    ]

    recorder = RecordEvaluations()
    second = run_training(request, recorder)
    assert second.status == "completed"
    # Evaluations are numbered across the resume (checkpoint-3 holds the one at step 2), so
    # hyperband compares the resumed job at the right rungs.
    assert recorder.seen == [(4, 2), (6, 3), (8, 4)]
    assert second.resumed_from is not None and second.resumed_from.endswith("checkpoint-3")
    assert second.global_step == uninterrupted.global_step == 8
    assert [h["step"] for h in second.history] == [h["step"] for h in uninterrupted.history]
    # Model, optimizer, scheduler, RNG and data position were all restored: same end result.
    assert second.metrics["eval_loss"] == pytest.approx(
        uninterrupted.metrics["eval_loss"], rel=1e-5
    )
    straight = read_predictions(request.output_dir.parent / "straight")
    resumed = read_predictions(request.output_dir)
    assert [p["prediction"] for p in resumed] == [p["prediction"] for p in straight]
    for a, b in zip(resumed, straight):
        assert a["logits"] == pytest.approx(b["logits"], abs=1e-4)


def test_resuming_with_a_changed_configuration_is_refused(make_request: RequestFactory) -> None:
    request = make_request("changed")
    assert run_training(request, StopAtStep(1)).status == "interrupted"
    changed = make_request("changed", hyperparameters={**FULL_HP, "learning_rate": 5e-4})
    with pytest.raises(
        SweepfirstError, match=r"different configuration \(changed: hyperparameters\)"
    ):
        run_training(changed)
    # Nothing recorded was lost or overwritten.
    assert [c.name for c in list_checkpoints(request.output_dir)] == ["checkpoint-1"]
    # W&B settings and paths are not part of the configuration: this resumes fine.
    same = make_request("changed", wandb=WandbSettings(mode="disabled", run_id="x"))
    assert run_training(same).status == "completed"


def test_unknown_model_is_a_model_error_and_the_fixed_request_may_reuse_the_folder(
    make_request: RequestFactory, tmp_path: Path
) -> None:
    from sweepfirst.errors import ModelError

    with pytest.raises(ModelError, match="The model folder .*no-such-model.* does not exist"):
        run_training(make_request("typo", model=str(tmp_path / "no-such-model")))
    # Nothing was trained or recorded there, so the corrected request is not a "changed config".
    fixed = make_request("typo", save_checkpoints=False, evaluations_per_epoch=1)
    assert run_training(fixed).status == "completed"


def test_wandb_offline_run_lives_in_the_job_folder_under_its_stable_id(
    make_request: RequestFactory,
) -> None:
    settings = WandbSettings(
        mode="offline",
        project="sweepfirst-tests",
        group="run-1",
        job_type="sweep",
        name="rte-full-trial0",
        run_id="run-1-job7",
        tags=("test",),
    )
    request = make_request(
        "wandb",
        wandb=settings,
        save_checkpoints=False,
        evaluations_per_epoch=1,
        hyperparameters={**FULL_HP, "num_train_epochs": 1},
    )
    result = run_training(request)
    assert result.status == "completed"
    runs = list((request.output_dir / "wandb").glob("offline-run-*-run-1-job7"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    assert list_checkpoints(request.output_dir) == []
