"""The report's "How the model changed" section, and the saved-models table of its provenance.

What it shows comes from `sweepfirst.analysis.drift_comparison` (numbers) and
`step3_drift_figures` (figures); this module only lays them out as document blocks, like
`step3_layout` does for the scores.
"""

from __future__ import annotations

from sweepfirst import formatting as fmt
from sweepfirst.analysis.drift_comparison import (
    HEADLINE_CKA,
    DriftComparison,
    DriftTest,
    MethodDrift,
    TaskDrift,
)
from sweepfirst.analysis.report import step3_drift_figures as drift_plots
from sweepfirst.analysis.report.document import (
    Block,
    Figure,
    Paragraph,
    Section,
    Subheading,
    Table,
)
from sweepfirst.analysis.report.model import Provenance, ReportData
from sweepfirst.analysis.statistics import SeedSummary

ANCHOR = "drift"
TITLE = "How the model changed"


def _summary(summary: SeedSummary | None, digits: int = 4) -> str:
    if summary is None:
        return fmt.MISSING
    if summary.ci_low is None or summary.ci_high is None:
        return f"{summary.mean:.{digits}f} (n={summary.n})"
    return f"{summary.mean:.{digits}f} [{summary.ci_low:.{digits}f}, {summary.ci_high:.{digits}f}]"


def _label(method: MethodDrift) -> str:
    return method.method if method.source_phase == "production" else f"{method.method} ({method.source_phase})"


def drift_sections(data: ReportData) -> tuple[Section, ...]:
    """The section, or nothing when the run measured no drift."""
    drift = data.drift
    if drift is None:
        return ()
    intruders = (f"the top {drift.intruder_top_k} singular vectors of W whose cosine with every "
                 f"singular vector of W₀ is below {drift.intruder_threshold}"
                 if drift.intruder_top_k is not None else "new high-ranking singular vectors")
    blocks: list[Block] = [Paragraph(
        f"Each production (and baseline) model against the pretrained model it started from. "
        f"Representations: linear CKA (Kornblith et al. 2019) between base and tuned hidden states "
        f"of the same {drift.examples} dev examples, per hidden state (the embedding output, then "
        f"each layer), on the token-mean and the [CLS] vector; the debiased form (unbiased HSIC) is "
        f"the one compared, since with this few examples plain CKA is biased upwards. 1 means the "
        f"representation is unchanged up to rotation and scale. Weights: per attention (query, key, "
        f"value, output) and feed-forward (in, out) matrix, the relative change ‖W−W₀‖/‖W₀‖, the "
        f"effective rank of W−W₀, and the intruder dimensions of Shuttleworth et al. (2024): "
        f"{intruders} (adapters are merged first). Means are over seeds with t-based 95% intervals; "
        f"differences between methods are paired by seed (t-test); with fewer than 5 seeds only "
        f"large differences can be detected, so \"no detectable difference\" is not \"no difference\".")]
    for task in drift.tasks:
        blocks.extend(_task_blocks(task))
    return (Section(TITLE, ANCHOR, tuple(blocks)),)


def _task_blocks(task: TaskDrift) -> list[Block]:
    blocks: list[Block] = [Subheading(task.task)]
    png = drift_plots.cka_by_layer(task)
    if png is not None:
        blocks.append(Figure(f"drift-cka-{task.task}", png, f"{task.task}: debiased CKA to the base per hidden state (95% interval over seeds)"))
    blocks.append(_cka_table(task))
    blocks.extend(Paragraph(m.depth_sentence) for m in task.methods)
    png = drift_plots.relative_change_by_layer(task)
    if png is not None:
        blocks.append(Figure(f"drift-change-{task.task}", png, f"{task.task}: relative change of each weight matrix by layer (mean over seeds; bars: min to max)"))
    blocks.append(_matrix_table(task))
    png = drift_plots.intruders_by_method(task)
    if png is not None:
        blocks.append(Figure(f"drift-intruders-{task.task}", png, f"{task.task}: intruder dimensions per matrix type, summed over layers (mean over seeds; bars: min to max)"))
    blocks.append(Table(
        ("Method", "Seeds", "Intruder dimensions per model (mean [95% CI])", "Min – max"),
        tuple((_label(m), ", ".join(map(str, m.seeds)), _summary(m.intruders_total, 2),
               f"{m.intruders_total.min:.0f} – {m.intruders_total.max:.0f}") for m in task.methods),
        caption="Intruder dimensions, all matrices of a model"))
    for comparison in task.comparisons:
        blocks.extend(_comparison_blocks(comparison))
    return blocks


def _cka_table(task: TaskDrift) -> Table:
    rows = []
    for method in task.methods:
        for layer in method.layers:
            rows.append((layer.name, _label(method), _summary(layer.cka.get(HEADLINE_CKA)),
                         _summary(layer.cka.get("cka_mean")), _summary(layer.cka.get("cka_cls_debiased")),
                         _summary(layer.cka.get("cka_cls"))))
    return Table(("Hidden state", "Method", "CKA debiased (token mean)", "CKA (token mean)",
                  "CKA debiased ([CLS])", "CKA ([CLS])"), tuple(rows),
                 caption="CKA to the base model, mean [95% CI] over seeds (— where undefined: "
                         "the embedding layer's [CLS] vector is the same for every example)")


def _matrix_table(task: TaskDrift) -> Table:
    rows = []
    for method in task.methods:
        for matrix, change in method.relative_change_by_type.items():
            ranks = [md.effective_rank.mean for md in method.matrices if md.matrix == matrix]
            rows.append((_label(method), matrix, _summary(change),
                         f"{sum(ranks) / len(ranks):.2f}" if ranks else fmt.MISSING,
                         _summary(method.intruders_by_type.get(matrix), 2)))
    return Table(("Method", "Matrix", "Relative change (mean over layers) [95% CI]",
                  "Effective rank of W−W₀ (mean)", "Intruders (sum over layers) [95% CI]"),
                 tuple(rows), caption="Weight change by matrix type (per layer: report.json)")


def _comparison_blocks(comparison: DriftComparison) -> list[Block]:
    tests: list[DriftTest] = [*comparison.cka_by_layer, *comparison.relative_change_by_type,
                              comparison.intruders_total]
    rows = tuple((t.quantity, ", ".join(map(str, t.paired.seeds)) or "none",
                  fmt.signed(t.paired.mean_difference),
                  fmt.interval(t.paired.ci_low, t.paired.ci_high, sign=True),
                  fmt.p_value(t.paired.p_value)) for t in tests)
    a, b = comparison.method_a, comparison.method_b
    return [
        Table(("Quantity", "Paired seeds", f"{a} − {b}", "95% CI", "p (paired t)"), rows,
              caption=f"{a} − {b}, production models paired by seed"),
        *(Paragraph(t.sentence) for t in tests),
    ]


def saved_model_blocks(provenance: Provenance) -> tuple[Block, ...]:
    """The provenance table of kept models (path relative to the artifact store, sha256)."""
    if not provenance.saved_models:
        return ()
    return (Table(("Job", "Phase", "Task", "Method", "Seed", "Kind", "Path", "Weights sha256"),
                  tuple((m.job_name, m.phase, m.task, m.method, str(m.seed), m.kind, m.path,
                         m.sha256 or fmt.MISSING) for m in provenance.saved_models),
                  caption="Saved models"),)
