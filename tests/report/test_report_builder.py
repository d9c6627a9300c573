"""`build_report_data` fills every section of the report from the database and the job folders."""

from __future__ import annotations

import hashlib
import json

import pytest
from recorded_run import (
    DATA_FINGERPRINT,
    FAKE_WEIGHTS,
    LABELS,
    WRONG,
    RecordedRun,
    accuracy,
    predictions_for,
)

from sweepfirst.analysis.report.model import RunReport
from sweepfirst.analysis.report.step2_build import build_report_data
from sweepfirst.analysis.report.step3_layout_run import build_run_document
from sweepfirst.errors import NotFound


@pytest.fixture(scope="module")
def report(recorded: RecordedRun) -> RunReport:
    return build_report_data(recorded.ctx, recorded.run_id)


def test_run_info_has_phase_times_and_the_selection_split(report: RunReport) -> None:
    run = report.run
    assert run.name == "handmade-run" and run.workflow_name == "handmade"
    assert [p.phase for p in run.phase_times] == ["sweep", "analysis", "production", "report"]
    assert all(p.started_at is not None and p.finished_at is not None for p in run.phase_times)
    assert run.finished_at is not None
    assert not run.selection_on_dev and "held out" in run.selection_split
    assert report.phase == "completed"


def test_each_cell_has_its_selection_production_and_baseline(report: RunReport) -> None:
    (task,) = report.tasks
    assert task.task == "mrpc" and task.metric == "accuracy"
    full, lora = task.methods
    assert (full.method, lora.method) == ("full_finetune", "lora")
    assert full.hyperparameters == {"learning_rate": 5e-5, "per_device_train_batch_size": 16}
    assert full.selection_score == pytest.approx(0.84)
    assert full.scores_by_seed == {
        seed: pytest.approx(accuracy(predictions_for(wrong)))
        for seed, wrong in WRONG["full_finetune"].items()
    }
    assert [r.seed for r in full.baseline] == [1, 2, 3] and full.baseline_summary is not None
    assert full.sweep_gain is not None and full.sweep_gain.n == 3


def test_a_degenerate_run_is_flagged_and_kept_in_the_statistics(report: RunReport) -> None:
    lora = report.tasks[0].methods[1]
    (flagged,) = lora.flagged_runs
    assert flagged.seed == 3 and flagged.score == pytest.approx(sum(LABELS) / len(LABELS))
    assert flagged.degenerate is not None and "collapsed onto one class" in flagged.degenerate.reason
    assert lora.summary is not None and lora.summary.n == 3  # never dropped silently
    without = lora.summary_without_flagged
    assert without is not None and without.n == 2
    healthy = [r for r in lora.production if r.seed != 3]
    assert all(r.degenerate is not None and not r.degenerate.is_degenerate for r in healthy)
    assert [(t, m, kind) for t, m, kind, _ in report.flagged_runs] == [("mrpc", "lora", "production")]


def test_sweep_trials_keep_pruned_and_failed_and_only_searched_parameters(report: RunReport) -> None:
    full, lora = report.tasks[0].methods
    assert [t.state for t in full.trials] == ["succeeded"] * 3
    assert [t.state for t in lora.trials] == ["succeeded", "succeeded", "pruned", "failed"]
    # a pruned trial's last score is from before it finished: not a selection score
    assert lora.trials[2].score is None and lora.trials[3].score is None
    # ... but where it paused, and its score there, are (the sweep plot draws it there, hollow)
    assert (lora.trials[2].paused_at_evaluation, lora.trials[2].paused_score) == (2, pytest.approx(0.62 - 0.04))
    assert [t.paused_at_evaluation for t in (*full.trials, *lora.trials)] == [None] * 5 + [2, None]
    # batch size is fixed ({value: 16}), so it gets no panel
    assert all(set(t.hyperparameters) == {"learning_rate"} for t in lora.trials)


def test_learning_curves_come_from_the_metrics_history(report: RunReport) -> None:
    lora = report.tasks[0].methods[1]
    production = [c for c in lora.learning_curves if c.phase == "production"]
    assert {(c.metric, c.seed) for c in production} == {
        (m, s) for m in ("accuracy", "loss") for s in (1, 2, 3)}
    assert all(len(c.points) == 3 and c.points[0][0] == 5.0 for c in production)
    sweep = [c for c in lora.learning_curves if c.phase == "sweep" and c.metric == "accuracy"]
    assert sorted(len(c.points) for c in sweep) == [2, 3, 3]  # the pruned trial stopped early


def test_methods_are_compared_across_seeds_and_per_example(report: RunReport) -> None:
    all_runs, unflagged = report.tasks[0].comparisons
    assert (all_runs.method_a, all_runs.method_b) == ("full_finetune", "lora")
    assert all_runs.paired.n == 3 and all_runs.paired.p_value is not None
    assert [t.seed for t in all_runs.per_seed] == [1, 2, 3]
    seed1 = all_runs.per_seed[0]
    # full fine-tuning is wrong on 4 examples, LoRA on those 4 and 3 more (aligned by id)
    assert (seed1.mcnemar.only_a_correct, seed1.mcnemar.only_b_correct) == (3, 0)
    assert seed1.bootstrap.difference == pytest.approx(3 / 40)
    # LoRA's seed 3 collapsed: the second comparison leaves seed 3 out for both methods
    assert unflagged.method_a == "full_finetune (flagged seeds excluded)"
    assert unflagged.paired.seeds == (1, 2) and unflagged.paired.unmatched_seeds == ()
    assert unflagged.per_seed == ()


def test_provenance_is_recorded_or_recomputed(report: RunReport, recorded: RecordedRun) -> None:
    prov = report.provenance
    assert prov.git_commit == "abc123def456" and prov.git_dirty is True
    assert prov.package_versions["torch"] == "2.x"
    assert prov.model_name == str(recorded.model_dir)
    # no job recorded a weights hash, so the builder hashed the folder's weight file itself
    assert hashlib.sha256(FAKE_WEIGHTS).hexdigest() in prov.model_hash
    assert "recomputed" in prov.model_hash
    assert prov.data_fingerprints["mrpc"].startswith(DATA_FINGERPRINT)
    assert "NVIDIA H100" in prov.hardware and "cuda:0 (bf16) × 12" in prov.hardware
    costs = {c.phase: c for c in prov.phase_costs}
    assert costs["sweep"].jobs == 7 and costs["sweep"].accelerator_seconds is None
    assert costs["production"].jobs == 12 and costs["production"].accelerator_seconds is not None


def test_failed_jobs_are_listed(report: RunReport) -> None:
    (failed,) = report.failed_jobs
    assert (failed.phase, failed.method, failed.trial_index, failed.state) == (
        "sweep", "lora", 3, "failed")
    assert failed.error == "RuntimeError: loss is nan"
    assert report.missing_results == ()


def test_a_failed_production_job_is_reported_not_hidden(recorded_failed: RecordedRun) -> None:
    report = build_report_data(recorded_failed.ctx, recorded_failed.name)
    assert report.phase == "failed"
    assert [(j.phase, j.seed) for j in report.missing_results] == [("production", 2)]
    lora = report.tasks[0].methods[1]
    assert [r.seed for r in lora.production] == [1, 3]
    assert report.tasks[0].comparisons[0].paired.unmatched_seeds == (2,)
    alerts = " ".join(a.text for a in build_run_document(report).alerts)
    assert "phase 'failed'" in alerts and "1 production or baseline job ended" in alerts


def test_the_report_data_is_json(report: RunReport) -> None:
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["failed_jobs"][0]["state"] == "failed"
    assert data["tasks"][0]["methods"][1]["summary_without_flagged"]["n"] == 2


def test_an_unknown_run_is_not_found(recorded: RecordedRun) -> None:
    with pytest.raises(NotFound, match="There is no run 'nope'"):
        build_report_data(recorded.ctx, "nope")
