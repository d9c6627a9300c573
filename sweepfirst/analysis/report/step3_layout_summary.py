"""Step 3 for the production table: ``summary.md``'s one-page document (no table of contents).

Per (task, method, phase): the production seeds and each metric's mean ± sample standard
deviation on the dev split; then the chosen configurations.
"""

from __future__ import annotations

from collections.abc import Mapping

from sweepfirst import formatting as fmt
from sweepfirst.analysis.report.document import Document, Paragraph, Section, Table
from sweepfirst.analysis.report.step2_summary import CellSummary
from sweepfirst.store.models import Selection


def summary_document(run_name: str, summaries: list[CellSummary],
                     chosen: Mapping[tuple[str, str], Selection]) -> Document:
    """The production table of ``run_name``, and the configuration chosen for each cell."""
    lead = (Paragraph("Scores on the dev split, mean ± sample standard deviation over production seeds."),
            summary_table(summaries))
    sections: tuple[Section, ...] = ()
    if chosen:
        lines = [f"- {task}/{method}: {sel.hyperparameters} ({sel.metric} {sel.score} on the "
                 f"{'dev split' if sel.split == 'dev' else 'selection split'}, chosen by {sel.source})"
                 for (task, method), sel in sorted(chosen.items())]
        sections = (Section("Chosen configurations", "chosen", (Paragraph("\n".join(lines)),)),)
    return Document(title=f"{run_name}: production results", alerts=(), sections=sections,
                    lead=lead, contents=False)


def summary_table(summaries: list[CellSummary]) -> Table:
    metric_names = sorted({m for s in summaries for m in s.metrics})
    rows = []
    for s in summaries:
        cells = [s.task, s.method, s.phase, str(len(s.seeds))]
        cells += [fmt.mean_std(s.metrics[m].mean, s.metrics[m].std) if m in s.metrics else ""
                  for m in metric_names]
        rows.append(tuple(cells))
    return Table(("task", "method", "phase", "seeds", *metric_names), tuple(rows))
