"""Step 3 of the report: lay the model out as a `Document` -- every section, in reading order,
with its figures rendered (``step3_figures``).

The HTML and Markdown renderers (step 4) only turn these blocks into markup, so what the report
*says* (which numbers, which warnings, in which order) is decided once, here.
"""

from __future__ import annotations

import re

from sweepfirst import formatting as fmt
from sweepfirst.analysis.degenerate import NEAR_DOMINANT_SHARE, NEAR_MAJORITY_MARGIN
from sweepfirst.analysis.report import step3_figures as plots
from sweepfirst.analysis.report.document import (
    Block,
    Callout,
    Document,
    Figure,
    Paragraph,
    Section,
    Subheading,
    Table,
)
from sweepfirst.analysis.report.model import (
    MethodResult,
    ReportData,
    SeedExampleTests,
    TaskResult,
)
from sweepfirst.analysis.report.step3_layout_drift import drift_sections, saved_model_blocks
from sweepfirst.analysis.statistics import PairedComparison, SeedSummary


def build_document(data: ReportData) -> Document:
    """Every section of the report, in reading order, with its figures rendered."""
    sections = (
        _run_section(data),
        _summary_section(data),
        _comparison_section(data),
        _sweep_value_section(data),
        _hyperparameter_section(data),
        _learning_curve_section(data),
        _seed_points_section(data),
        _budget_section(data),
        _degenerate_section(data),
        *drift_sections(data),
        _provenance_section(data),
    )
    return Document(title=f"sweepfirst report: {data.run.name}", alerts=_alerts(data),
                    sections=sections)


def _alerts(data: ReportData) -> tuple[Callout, ...]:
    alerts = []
    if data.run.selection_on_dev:
        alerts.append(Callout(
            "Hyperparameters were selected on the dev set that the production scores are "
            "reported on, so those scores are optimistically biased; select on a split held out "
            "from train for an honest comparison."
        ))
    for task in data.tasks:
        for cell in task.methods:
            if cell.choice_note:
                alerts.append(Callout(
                    f"{task.task} / {cell.method}: the configuration was {cell.choice_note}; the "
                    "comparison is less certain than the design intended."
                ))
    near = data.near_degenerate_runs
    if near:
        listed = "; ".join(f"{task} / {method} {kind} seed {run.seed}: {run.near_degenerate}"
                           for task, method, kind, run in near[:4])
        more = f"; and {len(near) - 4} more" if len(near) > 4 else ""
        alerts.append(Callout(
            f"{len(near)} run{'s' if len(near) != 1 else ''} nearly degenerate (the model mostly "
            f"answers one class; see Degenerate runs): {listed}{more}."))
    flagged = data.flagged_runs
    if flagged:
        alerts.append(Callout(
            f"{len(flagged)} run{'s' if len(flagged) != 1 else ''} predicted (nearly) one class "
            "or did no better than the majority class; see Degenerate runs. The summary shows "
            "each method with and without them."
        ))
    return tuple(alerts)


def _run_section(data: ReportData) -> Section:
    run = data.run
    facts = Table(("", ""), (
        ("Run", run.name),
        ("Workflow", run.workflow_name),
        ("Created", fmt.timestamp(run.created_at)),
        # The report phase writes the report before the run is marked finished.
        ("Finished", fmt.timestamp(run.finished_at) if run.finished_at is not None
         else "not yet: the report is the run's last phase"),
        ("Selection split", run.selection_split + (" (the dev set!)" if run.selection_on_dev
                                                   else "")),
        ("Report generated", fmt.timestamp(data.generated_at)),
    ))
    phases = Table(
        ("Phase", "Started", "Finished", "Duration"),
        tuple((p.phase, fmt.timestamp(p.started_at), fmt.timestamp(p.finished_at),
               fmt.duration(p.duration_seconds)) for p in run.phase_times),
        caption="Phase times",
    )
    return Section("Run", "run", (facts, phases) if run.phase_times else (facts,))


def _summary_section(data: ReportData) -> Section:
    rows = []
    for task in data.tasks:
        for cell in task.methods:
            n_flagged = sum(run.flagged for run in cell.production)
            for metric in task.metric_names or (task.metric,):
                headline = metric == task.metric
                summary = cell.summary if headline else cell.metric_summary(metric)
                rows.append((
                    task.task, cell.method, metric,
                    *_summary_cells(summary),
                    fmt.score(task.majority_answer_score(metric)),
                    _without_flagged(cell, n_flagged) if headline else _metric_without_flagged(
                        cell, metric, n_flagged),
                ))
    table = Table(
        ("Task", "Method", "Metric", "n", "Mean ± std", "95% CI", "Min – max",
         "Majority-class answer", "Without flagged runs"),
        tuple(rows),
    )
    notes = _summary_notes(data)
    intro = Paragraph(
        "Production scores on the dev set, one training run per seed with the configuration the "
        "sweep chose, in every metric the task reports. The 95% CI uses the t distribution over "
        "seeds: it says how much the mean would move if the method were trained again, not how it "
        "would fare on other data. The majority-class answer is the score, in that row's metric, "
        "of always answering the most common dev label (its accuracy is the majority-class rate; "
        "on MRPC, whose most common label is \"equivalent\", its F1 is 2p / (1 + p), about 0.81): "
        "a score near it means the model learned little."
    )
    return Section("Summary", "summary", (intro, table, *notes))



def _metric_without_flagged(cell: MethodResult, metric: str, n_flagged: int) -> str:
    if n_flagged == 0:
        return "none flagged"
    kept = [r.metrics[metric] for r in cell.production if not r.flagged and metric in r.metrics]
    if not kept:
        return "all runs flagged"
    from sweepfirst.analysis.statistics import summarize_seeds

    summary = summarize_seeds(kept)
    return (f"n={summary.n}: {fmt.mean_std(summary.mean, summary.std)}, "
            f"CI {fmt.interval(summary.ci_low, summary.ci_high)}")


def _summary_cells(summary: SeedSummary | None) -> tuple[str, str, str, str]:
    if summary is None:
        return ("0", fmt.MISSING, fmt.MISSING, fmt.MISSING)
    ci = fmt.interval(summary.ci_low, summary.ci_high)
    if summary.ci_low is None:
        ci = "undefined (1 seed)"
    return (str(summary.n), fmt.mean_std(summary.mean, summary.std), ci,
            f"{fmt.score(summary.min)} – {fmt.score(summary.max)}")


def _without_flagged(cell: MethodResult, n_flagged: int) -> str:
    if n_flagged == 0:
        return "none flagged"
    kept = cell.summary_without_flagged
    if kept is None:
        return "all runs flagged"
    return (f"n={kept.n}: {fmt.mean_std(kept.mean, kept.std)}, "
            f"CI {fmt.interval(kept.ci_low, kept.ci_high)}")


def _summary_notes(data: ReportData) -> list[Block]:
    notes: list[Block] = []
    for task in data.tasks:
        for cell in task.methods:
            if cell.summary is not None and cell.summary.note:
                notes.append(Callout(f"{task.task} / {cell.method}: {cell.summary.note}", "note"))
    return notes


def _comparison_section(data: ReportData) -> Section:
    blocks: list[Block] = [Paragraph(
        "Differences are method A minus method B. Across seeds: a paired t-test over the seeds "
        "both methods ran, with Cohen's d_z (mean difference / sd of the differences) as the "
        "effect size. Per seed: a paired bootstrap over dev examples (95% interval of the "
        "accuracy difference; BCa, or percentile above 5,000 examples) and McNemar's exact test, where b counts examples only A got "
        "right and c those only B got right."
    )]
    compared = False
    for task in data.tasks:
        if not task.comparisons:
            continue
        compared = True
        blocks.append(Subheading(f"{task.task} ({task.metric})"))
        rows = []
        in_metrics = [(task.metric, task.comparisons),
                      *((m, task.metric_comparisons.get(m, ())) for m in task.metric_names[1:])]
        for metric, comparisons in in_metrics:
            for comparison in comparisons:
                p = comparison.paired
                rows.append((
                    f"{comparison.method_a} − {comparison.method_b}",
                    metric,
                    _seed_list(p.seeds),
                    fmt.signed(p.mean_difference),
                    fmt.interval(p.ci_low, p.ci_high, sign=True),
                    fmt.p_value(p.p_value),
                    fmt.effect(p.cohens_dz),
                ))
        blocks.append(Table(("A − B", "Metric", "Paired seeds", "Mean difference", "95% CI",
                             "p (paired t)", "d_z"), tuple(rows), caption="Across seeds, every metric"))
        for comparison in task.comparisons:
            blocks.extend(_comparison_notes(comparison.method_a, comparison.method_b,
                                            comparison.paired))
        for comparison in task.comparisons:
            if comparison.per_seed:
                blocks.append(_per_seed_table(comparison.method_a, comparison.method_b,
                                              comparison.per_seed))
    if not compared:
        blocks.append(Paragraph(
            "Nothing to compare: no task has production runs of two methods. Add a second method "
            "to the workflow's `methods` (for example `full_finetune` beside `lora`) and run it."))
    return Section("Method comparison", "comparison", tuple(blocks))


def _comparison_notes(a: str, b: str, paired: PairedComparison) -> list[Block]:
    notes: list[Block] = []
    if paired.power_note:
        notes.append(Callout(f"{a} − {b}: {paired.power_note}", "warning"))
    if paired.note:
        notes.append(Callout(f"{a} − {b}: {paired.note}", "note"))
    if paired.unmatched_seeds:
        notes.append(Callout(
            f"{a} − {b}: seeds {_seed_list(paired.unmatched_seeds)} ran for only one of the "
            "methods and are left out of the paired test.", "note"))
    return notes


def _per_seed_table(a: str, b: str, per_seed: tuple[SeedExampleTests, ...]) -> Table:
    rows = []
    for tests in per_seed:
        boot, mc = tests.bootstrap, tests.mcnemar
        rows.append((
            str(tests.seed), str(boot.n_examples), fmt.score(boot.mean_a), fmt.score(boot.mean_b),
            fmt.signed(boot.difference), fmt.interval(boot.ci_low, boot.ci_high, sign=True),
            f"{mc.only_a_correct} / {mc.only_b_correct}", fmt.p_value(mc.p_value),
        ))
    return Table(
        ("Seed", "Dev examples", f"Accuracy {a}", f"Accuracy {b}", "Difference",
         "95% bootstrap CI", "McNemar b / c", "Exact p"),
        tuple(rows), caption=f"{a} − {b} per seed, across dev examples",
    )


def _sweep_value_section(data: ReportData) -> Section:
    rows = []
    for task in data.tasks:
        for cell in task.methods:
            summary = cell.summary
            production = summary.mean if summary else None
            gap = (production - cell.selection_score
                   if production is not None and cell.selection_score is not None else None)
            baseline = cell.baseline_summary
            gain = cell.sweep_gain
            gain_text = fmt.MISSING
            if gain is not None and gain.mean_difference is not None:
                gain_text = (f"{fmt.signed(gain.mean_difference)} "
                             f"{fmt.interval(gain.ci_low, gain.ci_high, sign=True)}, "
                             f"p {fmt.p_value(gain.p_value)}")
            rows.append((
                task.task, cell.method, fmt.hyperparameters(cell.hyperparameters),
                fmt.score(cell.selection_score), fmt.score(production), fmt.signed(gap),
                (f"{fmt.mean_std(baseline.mean, baseline.std)} (n={baseline.n})"
                 if baseline else "not run"),
                gain_text,
            ))
    table = Table(
        ("Task", "Method", "Chosen hyperparameters", "Selection score", "Production mean",
         "Production − selection", "Default hyperparameters", "Tuned − default (95% CI, p)"),
        tuple(rows),
    )
    intro = Paragraph(
        "The selection score is the chosen trial's score on the selection split; production "
        "trains the same configuration on all of train and scores the dev set. A production "
        "mean well below the selection score means the sweep picked partly on noise. "
        "Tuned − default compares against the method's default hyperparameters, paired by seed."
    )
    budgets = [f"{task.task} / {cell.method}: {cell.budget_note}." for task in data.tasks
               for cell in task.methods if cell.budget_note]
    if not any(cell.baseline for _, cell in _cells(data)) and not any(
            cell.selection_score is not None for _, cell in _cells(data)):
        return Section("What the sweep bought", "sweep-value", (Paragraph(
            "Not measured: this run has neither a sweep score nor runs with default "
            "hyperparameters. This section compares the tuned configuration against the "
            "method's defaults, paired by seed; run the workflow with `baseline: true` (or "
            "`--set baseline=true`) to fill it."),))
    if not any(cell.baseline for _, cell in _cells(data)):
        table = Table(table.headers[:6], tuple(row[:6] for row in rows))
        intro = Paragraph(
            "The selection score is the chosen trial's score on the selection split; production "
            "trains the same configuration on all of train and scores the dev set. A production "
            "mean well below the selection score means the sweep picked partly on noise. "
            "What tuning gained over the methods' default hyperparameters is not measured: the "
            "workflow ran no baseline; set `baseline: true` (or `--set baseline=true`) to measure it.")
    blocks: list[Block] = [intro, table]
    if budgets:
        blocks.append(Paragraph("Sweep budgets and what each sweep spent: " + " ".join(budgets)))
    certainty = [f"{task.task} / {cell.method}: {cell.certainty_note}." for task in data.tasks
                 for cell in task.methods if cell.certainty_note]
    if certainty:
        blocks.append(Paragraph(
            "How sure each choice is (selection accuracy with its 95% Wilson interval; the chosen "
            "trial against the runner-up by McNemar's exact test on the same selection examples): "
            + " ".join(certainty)))
    return Section("What the sweep bought", "sweep-value", tuple(blocks))


def _hyperparameter_section(data: ReportData) -> Section:
    blocks: list[Block] = [Paragraph(
        "Each sweep trial's selection score against each hyperparameter; the star is the "
        "chosen configuration. Trials that early termination (ASHA) paused are drawn hollow, at "
        "their score where they paused: they trained less, so that score is a lower bound, not "
        "directly comparable with a finished trial's. Learning rate is on a log axis."
    )]
    for task, cell in _cells(data):
        png = plots.score_vs_hyperparameters(
            cell.trials, metric=task.metric, title=f"{task.task} / {cell.method}",
            chosen=cell.hyperparameters,
        )
        if png is not None:
            paused = sum(t.paused_score is not None for t in cell.trials)
            blocks.append(Figure(_slug("sweep", task.task, cell.method), png,
                                 f"{task.task} / {cell.method}: {len(cell.trials)} trials"
                                 + (f", {paused} paused by ASHA" if paused else "")))
    if len(blocks) == 1:
        blocks.append(Paragraph(
            "Nothing to plot: no sweep trial finished with a score (a run handed its "
            "configuration with `--optimal-config` has no sweep). Run the sweep phase "
            "(`sweepfirst run WORKFLOW`) to fill this section."))
    return Section("Score vs hyperparameters", "hyperparameters", tuple(blocks))


def _learning_curve_section(data: ReportData) -> Section:
    blocks: list[Block] = []
    for task, cell in _cells(data):
        png = plots.learning_curves(cell.learning_curves, title=f"{task.task} / {cell.method}")
        if png is not None:
            blocks.append(Figure(_slug("curves", task.task, cell.method), png,
                                 f"{task.task} / {cell.method}: learning curves"))
    if not blocks:
        blocks.append(Paragraph(
            "Nothing to plot: no job recorded its evaluations (metrics.json in its folder). Every "
            "job writes them when it finishes; `training.evaluations_per_epoch` sets how many "
            "points each curve gets."))
    return Section("Learning curves", "learning-curves", tuple(blocks))


def _seed_points_section(data: ReportData) -> Section:
    blocks: list[Block] = []
    for task in data.tasks:
        if any(cell.production for cell in task.methods):
            blocks.append(Figure(_slug("seeds", task.task), plots.seed_points(task),
                                 f"{task.task}: per-seed production scores"))
    for task in data.tasks:
        names = task.metric_names or (task.metric,)
        rows = tuple(
            (cell.method, kind, str(run.seed),
             *(fmt.score(run.metrics.get(name, run.score if name == task.metric else None))
               for name in names),
             fmt.score(task.majority_rate),
             "degenerate ⚑" if run.flagged else ("nearly degenerate" if run.near_degenerate else ""))
            for cell in task.methods
            for kind, runs in (("production", cell.production), ("default hyperparameters", cell.baseline))
            for run in sorted(runs, key=lambda r: r.seed)
        )
        if rows:
            blocks.append(Table(("Method", "Kind", "Seed", *names, "Majority-class rate", "Flag"), rows,
                                caption=f"{task.task}: every run on the dev set"))
    return Section("Per-seed scores", "seeds", tuple(blocks))


def _budget_section(data: ReportData) -> Section:
    """What each method trained on and the time it took: the budget a paper states."""
    rows = []
    for task, cell in _cells(data):
        for kind, runs in (("production", cell.production), ("default hyperparameters", cell.baseline)):
            budgets = [r.budget for r in runs if r.budget is not None]
            if not budgets:
                continue
            examples = {b.train_examples for b in budgets}
            epochs = {b.epochs for b in budgets}
            steps = [b.steps for b in budgets if b.steps is not None]
            walls = [b.wall_seconds for b in budgets if b.wall_seconds is not None]
            rows.append((
                task.task, cell.method, kind, str(len(budgets)),
                fmt.count(examples.pop()) if len(examples) == 1 else fmt.MISSING,
                fmt.number(epochs.pop()) if len(epochs) == 1 else fmt.MISSING,
                fmt.count(round(sum(steps) / len(steps))) if steps else fmt.MISSING,
                fmt.duration(sum(walls) / len(walls)) if walls else fmt.MISSING,
                fmt.duration(sum(walls)) if walls else fmt.MISSING,
            ))
    if not rows:
        return Section("Training budget and time", "budget", (Paragraph(
            "Not recorded: no production job has finished yet. Each finished job records the "
            "examples it trained on, its epochs, steps and wall time; resume the run to fill this."),))
    intro = Paragraph(
        "What each job trained (training examples, epochs, optimizer steps) and its wall time "
        "(loading and evaluation included, summed over attempts), per method. Sweep budgets are "
        "under What the sweep bought; compute per phase under Provenance.")
    return Section("Training budget and time", "budget", (intro, Table(
        ("Task", "Method", "Kind", "Jobs", "Train examples", "Epochs", "Steps per job",
         "Wall time per job", "Wall time in all"), tuple(rows))))


def _degenerate_section(data: ReportData) -> Section:
    flagged = data.flagged_runs
    unchecked = sum(run.degenerate is None for _, cell in _cells(data) for run in cell.production)
    blocks: list[Block] = []
    blocks.append(Paragraph(
        f"A run is degenerate when one class takes at least 95% of its predictions or its accuracy "
        f"is no more than 1 point above the majority-class rate; nearly degenerate when one class "
        f"takes at least {NEAR_DOMINANT_SHARE:.0%} or its accuracy is within "
        f"{NEAR_MAJORITY_MARGIN * 100:.0f} points of the majority-class rate. Degenerate runs are "
        "shown apart in the summary; nearly degenerate ones stay in every statistic, with this "
        "warning."))
    if flagged:
        blocks.append(Table(
            ("Task", "Method", "Kind", "Seed", "Score", "Reason"),
            tuple((task, method, kind, str(run.seed), fmt.score(run.score),
                   run.degenerate.reason if run.degenerate else "")
                  for task, method, kind, run in flagged),
            caption="Degenerate runs",
        ))
    else:
        blocks.append(Paragraph("No run was flagged as degenerate."))
    near = data.near_degenerate_runs
    if near:
        blocks.append(Callout(
            f"{len(near)} run{'s' if len(near) != 1 else ''} nearly degenerate: the model mostly "
            "answers one class; its score says little more than the majority-class rate does."))
        blocks.append(Table(
            ("Task", "Method", "Kind", "Seed", "Score", "Predicted class share", "Majority-class rate",
             "Why"),
            tuple((task, method, kind, str(run.seed), fmt.score(run.score),
                   fmt.percent(run.degenerate.dominant_share) if run.degenerate else fmt.MISSING,
                   fmt.percent(run.degenerate.majority_rate) if run.degenerate else fmt.MISSING,
                   run.near_degenerate or "")
                  for task, method, kind, run in near),
            caption="Nearly degenerate runs",
        ))
    if unchecked:
        blocks.append(Callout(
            f"{unchecked} production run{'s' if unchecked != 1 else ''} had no predictions "
            "recorded, so could not be checked.", "note"))
    return Section("Degenerate runs", "degenerate", tuple(blocks))


def _provenance_section(data: ReportData) -> Section:
    prov = data.provenance
    commit = prov.git_commit or "unknown"
    if prov.git_dirty:
        commit += " (uncommitted changes)"
    blocks: list[Block] = [Table(("", ""), (
        ("Git commit", commit),
        ("Model", prov.model_name),
        ("Model hash", prov.model_hash or fmt.MISSING),
        ("Hardware", prov.hardware),
    ))]
    if prov.data_fingerprints:
        blocks.append(Table(("Task", "Data fingerprint"),
                            tuple(sorted(prov.data_fingerprints.items())), caption="Data"))
    if prov.phase_costs:
        blocks.append(Table(
            ("Phase", "Jobs", "Wall time", "Accelerator time"),
            tuple((c.phase, fmt.MISSING if c.jobs is None else str(c.jobs),
                   fmt.duration(c.wall_seconds), fmt.duration(c.accelerator_seconds))
                  for c in prov.phase_costs),
            caption="Compute per phase",
        ))
    blocks.extend(saved_model_blocks(prov))
    if prov.package_versions:
        blocks.append(Table(("Package", "Version"), tuple(sorted(prov.package_versions.items())),
                            caption="Package versions"))
    return Section("Provenance", "provenance", tuple(blocks))


def _cells(data: ReportData) -> list[tuple[TaskResult, MethodResult]]:
    return [(task, cell) for task in data.tasks for cell in task.methods]


def _seed_list(seeds: tuple[int, ...]) -> str:
    return ", ".join(map(str, seeds)) if seeds else "none"


def _slug(*parts: str) -> str:
    return "-".join(re.sub(r"[^a-z0-9]+", "-", p.lower()).strip("-") for p in parts)
