"""A realistic hand-built report: 2 GLUE tasks x (full fine-tuning, LoRA) x 3 seeds.

Per-example correctness is generated so that every recorded score is exactly the accuracy of the
predictions behind it, and the LoRA run on MRPC seed 3 collapses onto the positive class (the
classic failure of a too-high LoRA learning rate), so the degenerate-run path is exercised.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from sweepfirst.analysis.degenerate import detect_degenerate
from sweepfirst.analysis.report.model import (
    LearningCurve,
    MethodComparison,
    MethodResult,
    PhaseCost,
    PhaseTiming,
    Provenance,
    ReportData,
    RunInfo,
    SeedRun,
    SweepTrial,
    TaskResult,
)

UTC = dt.timezone.utc
SEEDS = (1, 2, 3)

# task -> (dev size, share of label 1, method -> target accuracy per seed, chosen params)
Params = dict[str, float | int]
_TASKS: dict[str, tuple[int, float, dict[str, tuple[tuple[float | None, ...], Params]]]] = {
    "MRPC": (408, 0.684, {
        "full": ((0.862, 0.855, 0.870), {"learning_rate": 2e-5, "per_device_train_batch_size": 32}),
        "lora": ((0.850, 0.846, None), {"learning_rate": 4e-4, "per_device_train_batch_size": 16}),
    }),
    "SST-2": (872, 0.509, {
        "full": ((0.931, 0.929, 0.934), {"learning_rate": 3e-5, "per_device_train_batch_size": 32}),
        "lora": ((0.926, 0.928, 0.922), {"learning_rate": 5e-4, "per_device_train_batch_size": 32}),
    }),
}


def _correctness(rng: np.random.Generator, base: np.ndarray, accuracy: float) -> np.ndarray:
    # A shared per-example difficulty makes the two methods err on mostly the same examples.
    latent = 0.8 * base + 0.2 * rng.random(base.size)
    return (latent < np.quantile(latent, accuracy)).astype(float)


def _trials(rng: np.random.Generator, chosen: Params, best: float) -> tuple[SweepTrial, ...]:
    best_lr = chosen["learning_rate"]
    trials = []
    for i in range(11):
        lr = float(10 ** rng.uniform(np.log10(best_lr) - 0.8, np.log10(best_lr) + 0.8))
        bs = int(rng.choice([16, 32]))
        score = best - 0.09 * (np.log10(lr) - np.log10(best_lr)) ** 2 - rng.uniform(0, 0.012)
        trials.append(SweepTrial(i, {"learning_rate": lr, "per_device_train_batch_size": bs},
                                 round(float(score), 4), "succeeded", f"sweep-{i}"))
    trials.append(SweepTrial(11, dict(chosen), best, "succeeded", "sweep-11"))
    trials.append(SweepTrial(12, {"learning_rate": best_lr * 6, "per_device_train_batch_size": 16},
                             None, "failed", "sweep-12"))
    return tuple(trials)


def _curves(rng: np.random.Generator, finals: list[float]) -> tuple[LearningCurve, ...]:
    steps = np.arange(0, 1001, 100)
    curves = []
    for seed, final in zip(SEEDS, finals):
        acc = final - (final - 0.6) * np.exp(-steps / 220) + rng.normal(0, 0.003, steps.size)
        loss = 0.7 * np.exp(-steps / 300) + 0.12 + rng.normal(0, 0.01, steps.size)
        for metric, ys in (("eval_accuracy", acc), ("train_loss", loss)):
            curves.append(LearningCurve(f"prod-seed{seed}", "production", metric,
                                        tuple(zip(steps.tolist(), ys.round(4).tolist())),
                                        seed=seed))
    for i in range(3):
        ys = 0.6 + (finals[0] - 0.65 - 0.03 * i) * (1 - np.exp(-steps / 300))
        curves.append(LearningCurve(f"sweep-{i}", "sweep", "eval_accuracy",
                                    tuple(zip(steps.tolist(), ys.round(4).tolist()))))
    return tuple(curves)


def build_sample_report() -> ReportData:
    """The sample report the rendering tests and the screenshot use."""
    rng = np.random.default_rng(7)
    tasks = []
    for task, (n, positive, methods) in _TASKS.items():
        labels = (rng.random(n) < positive).astype(int)
        base = rng.random(n)
        cells, correctness = [], {}
        for method, (accuracies, chosen) in methods.items():
            production, per_seed = [], {}
            for seed, accuracy in zip(SEEDS, accuracies):
                if accuracy is None:  # the collapsed run: always "equivalent"
                    preds = np.ones(n, dtype=int)
                    correct = (labels == 1).astype(float)
                else:
                    correct = _correctness(rng, base, accuracy)
                    preds = np.where(correct == 1, labels, 1 - labels)
                per_seed[seed] = correct
                production.append(SeedRun(seed, float(correct.mean()), f"prod-{method}-{seed}",
                                          detect_degenerate(preds.tolist(), labels.tolist())))
            baseline: tuple[SeedRun, ...] = ()
            if method == "full":  # default hyperparameters: about two points worse
                tuned = float(np.mean([a for a in accuracies if a is not None]))
                baseline = tuple(
                    SeedRun(seed, round(tuned - 0.021 + rng.normal(0, 0.004), 4),
                            f"default-{method}-{seed}")
                    for seed in SEEDS)
            selection = round(max(a for a in accuracies if a) + 0.011, 4)
            finals = [r.score for r in production]
            cells.append(MethodResult(
                method=method, hyperparameters={**chosen, "num_train_epochs": 3,
                                                "warmup_ratio": 0.06},
                selection_score=selection, production=tuple(production), baseline=baseline,
                trials=_trials(rng, chosen, selection), learning_curves=_curves(rng, finals),
            ))
            correctness[method] = per_seed
        comparison = MethodComparison.between(cells[0], cells[1], correctness["full"],
                                              correctness["lora"], n_resamples=1000)
        tasks.append(TaskResult(task, "accuracy", tuple(cells), (comparison,)))

    start = dt.datetime(2025, 3, 2, 9, 14, 5, tzinfo=UTC)
    marks = [start + dt.timedelta(minutes=m) for m in (0, 96, 97, 151, 152)]
    phases = tuple(PhaseTiming(name, a, b) for name, a, b in
                   zip(("sweep", "analysis", "production", "report"), marks, marks[1:]))
    return ReportData(
        run=RunInfo(
            name="glue-full-vs-lora", workflow_name="full-vs-lora.yaml", created_at=start,
            finished_at=marks[-1], phase_times=phases,
            selection_split="10% of train held out (stratified, seed 0)", selection_on_dev=False,
        ),
        tasks=tuple(tasks),
        provenance=Provenance(
            package_versions={"torch": "2.5.1", "transformers": "5.0.0", "peft": "0.13.2",
                              "datasets": "3.1.0", "sweepfirst": "0.1.0"},
            git_commit="3f9c2e1a7b", git_dirty=False, model_name="bert-base-uncased",
            model_hash="sha256:86b5e0934494bd15c9632b12f734a8a67f723594",
            data_fingerprints={"MRPC": "glue/MRPC@5c8d1e02", "SST-2": "glue/SST-2@a41f7b93"},
            hardware="1x NVIDIA H100 80GB HBM3, 16 CPU cores",
            phase_costs=(PhaseCost("sweep", 5760, 5620, 52), PhaseCost("analysis", 12, None, 0),
                         PhaseCost("production", 3240, 3105, 12), PhaseCost("report", 31, None, 0)),
        ),
        generated_at=dt.datetime(2025, 3, 2, 11, 47, 0, tzinfo=UTC),
    )


@pytest.fixture(scope="session")
def sample_report() -> ReportData:
    return build_sample_report()
