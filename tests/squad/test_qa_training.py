"""Real SQuAD v2 training on the tiny BERT and a tiny SQuAD-format file: both methods, scores,
per-question predictions, the article splits, pruning, stop and resume."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from squad_support import QaRequestFactory

from sweepfirst.errors import DataError, SweepfirstError
from sweepfirst.tasks import get_task
from sweepfirst.training import TrainingRequest, TrainingResult
from sweepfirst.training.checkpoints import list_checkpoints
from sweepfirst.training.qa.dataset import load_squad_v2
from sweepfirst.training.qa.splits import REPORT_EVAL_FRACTION, REPORT_SPLIT_SEED, find_squad_dir
from sweepfirst.training.runner import run_training

SCORES = ("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1")


class Recording:
    """Hooks that remember every evaluation; prune at the first one when asked to."""

    def __init__(self, prune: bool = False, stop_at_step: int | None = None) -> None:
        self.prune = prune
        self.stop_at_step = stop_at_step
        self.seen: list[tuple[int, dict[str, float]]] = []
        self.polls = 0

    def on_evaluation(self, step: int, epoch: float, metrics: Mapping[str, float], evaluation: int) -> bool:
        self.seen.append((step, dict(metrics)))
        return not self.prune

    def on_step(self, step: int) -> None:
        return None

    def should_stop(self) -> bool:
        self.polls += 1  # once per optimizer step
        return self.stop_at_step is not None and self.polls >= self.stop_at_step


def read_lines(output_dir: Path) -> list[dict]:
    return [
        json.loads(line) for line in (output_dir / "predictions.jsonl").read_text().splitlines()
    ]


def report_split(data_root: Path) -> tuple[list[str], list[str]]:
    """(train ids, eval ids) of the fixed by-article cut of a dev-only folder."""
    splits = load_squad_v2(
        data_root / "squad_v2", eval_fraction=REPORT_EVAL_FRACTION, seed=REPORT_SPLIT_SEED
    )
    return list(splits["train"]["id"]), list(splits["validation"]["id"])


def assert_sane_scores(result: TrainingResult) -> None:
    assert result.primary_metric == "eval_f1"
    assert result.score == result.metrics["eval_f1"]
    for name in SCORES:
        assert 0.0 <= result.metrics[f"eval_{name}"] <= 100.0, name
    assert result.metrics["eval_exact"] <= result.metrics["eval_f1"] + 1e-9
    assert "eval_loss" in result.metrics
    # Threshold-tuned scores are details, never metrics a sweep or report could pick up.
    assert not any(k.startswith("eval_best") for k in result.metrics)
    assert result.extra["eval_best_f1"] >= result.metrics["eval_f1"] - 1e-9


def test_full_finetune_sweep_trial_scores_selection_articles_and_writes_question_predictions(
    make_qa_request: QaRequestFactory, tiny_data_root: Path
) -> None:
    # 64 tokens would fit GLUE but not a question and its context: the window is raised to 384.
    request = make_qa_request("full", max_seq_length=64)
    result = run_training(request)

    assert result.status == "completed"
    assert result.eval_split == "selection"
    assert_sane_scores(result)
    assert result.extra["max_seq_length"] == 384 and result.extra["doc_stride"] == 128
    # Long contexts give several windows: more rows than questions.
    assert result.extra["num_train_windows"] > result.num_train_examples
    assert len(result.history) == 4  # 2 epochs, 2 evaluations each
    recorded = json.loads((request.output_dir / "metrics.json").read_text())
    assert TrainingResult.from_json(recorded) == result

    lines = read_lines(request.output_dir)
    assert len(lines) == result.num_eval_examples
    assert set(lines[0]) == {
        "id",
        "prediction",
        "null_score_diff",
        "answers",
        "has_answer",
        "exact",
        "f1",
    }
    # The selection split is carved from the train part of the report cut, by article: it never
    # touches the report split, and no article is on both sides of the trial.
    report_train, report_eval = report_split(tiny_data_root)
    selection = [line["id"] for line in lines]
    assert set(selection) <= set(report_train) and not set(selection) & set(report_eval)
    assert result.num_train_examples + len(selection) == len(report_train)
    # Per-question scores are the official metric's, question by question.
    for name in ("exact", "f1"):
        mean = 100.0 * sum(line[name] for line in lines) / len(lines)
        assert mean == pytest.approx(result.metrics[f"eval_{name}"], abs=1e-9)
    has_answer = [line for line in lines if line["has_answer"]]
    assert 0 < len(has_answer) < len(lines)
    assert 100.0 * sum(line["f1"] for line in has_answer) / len(has_answer) == pytest.approx(
        result.metrics["eval_HasAns_f1"]
    )
    for line in lines:
        # Threshold 0: "" exactly where the no-answer score beats the best span.
        if line["null_score_diff"] > 0:
            assert line["prediction"] == ""


def test_lora_trains_only_adapters_and_the_span_head_and_reports_on_the_report_split(
    make_qa_request: QaRequestFactory, tiny_data_root: Path
) -> None:
    request = make_qa_request("lora", method="lora", evaluation="dev")
    result = run_training(request)

    assert result.status == "completed" and result.eval_split == "dev"
    assert_sane_scores(result)
    trainable, total = result.extra["trainable_parameters"], result.extra["total_parameters"]
    # LoRA r=4 on query and value of 2 layers of width 32, and the 32x2 (+bias) span head.
    assert trainable == 2 * 2 * (32 * 4 + 4 * 32) + (32 * 2 + 2)
    assert trainable < total / 100
    report_train, report_eval = report_split(tiny_data_root)
    assert [line["id"] for line in read_lines(request.output_dir)] == report_eval
    assert result.num_train_examples == len(report_train)


def test_every_evaluation_reaches_the_hooks_so_a_pruner_can_stop_the_job(
    make_qa_request: QaRequestFactory,
) -> None:
    hooks = Recording(prune=True)
    result = run_training(make_qa_request("pruned"), hooks)
    assert result.status == "pruned"
    assert len(hooks.seen) == 1
    step, metrics = hooks.seen[0]
    assert step == result.global_step
    assert {f"eval_{name}" for name in SCORES} <= set(metrics)


def test_stop_request_saves_and_a_second_call_resumes_to_the_same_end(
    make_qa_request: QaRequestFactory,
) -> None:
    uninterrupted = run_training(make_qa_request("straight", method="lora"))

    request = make_qa_request("stopped", method="lora")
    first = run_training(request, Recording(stop_at_step=3))
    assert first.status == "interrupted" and first.global_step == 3
    assert not (request.output_dir / "metrics.json").exists()
    assert not (request.output_dir / "predictions.jsonl").exists()
    assert list_checkpoints(request.output_dir)[-1].name == "checkpoint-3"

    second = run_training(request)
    assert second.status == "completed"
    assert second.resumed_from is not None and second.resumed_from.endswith("checkpoint-3")
    assert second.global_step == uninterrupted.global_step
    assert [h["step"] for h in second.history] == [h["step"] for h in uninterrupted.history]
    for name in ("eval_loss", "eval_f1", "eval_exact"):
        assert second.metrics[name] == pytest.approx(uninterrupted.metrics[name], rel=1e-5)
    resumed = read_lines(request.output_dir)
    straight = read_lines(request.output_dir.parent / "straight")
    assert [p["prediction"] for p in resumed] == [p["prediction"] for p in straight]
    # A third call finds the recorded result and trains nothing.
    assert run_training(request) == second


def test_window_settings_are_checked(make_qa_request: QaRequestFactory) -> None:
    with pytest.raises(SweepfirstError, match="doc_stride 320 is too long for windows of 384"):
        run_training(make_qa_request("stride", doc_stride=320))
    with pytest.raises(SweepfirstError, match="doc_stride only applies to question-answering"):
        TrainingRequest(
            task="mrpc",
            method="full_finetune",
            hyperparameters={
                "learning_rate": 1e-4,
                "per_device_train_batch_size": 8,
                "num_train_epochs": 1,
            },
            seed=0,
            model="bundled-minilm",
            output_dir=Path("/tmp/unused"),
            doc_stride=64,
        )
    # Unset doc_stride stays out of the fingerprint (earlier jobs keep theirs); a set one counts.
    base = make_qa_request("fp")
    assert "doc_stride" not in base.fingerprint_fields()
    assert make_qa_request("fp", doc_stride=32).fingerprint() != base.fingerprint()


def test_squad_folder_is_found_in_or_next_to_the_data_dir(
    tiny_data_root: Path, tmp_path: Path
) -> None:
    squad = tiny_data_root / "squad_v2"
    assert find_squad_dir(tiny_data_root / "glue") == squad  # a sibling of GLUE's folder
    assert find_squad_dir(tiny_data_root) == squad  # the data root
    assert find_squad_dir(squad) == squad  # the folder itself
    with pytest.raises(DataError, match=r"No SQuAD 2.0 data in or next to .*--data-dir"):
        find_squad_dir(tmp_path / "elsewhere" / "glue")


def test_registry_entry() -> None:
    task = get_task("squad_v2")
    assert task.kind == "question_answering" and task.primary_metric == "eval_f1"
    assert task.metric_names == SCORES
    with pytest.raises(SweepfirstError, match=r"squad_v2 \(question answering\)"):
        get_task("squad")
