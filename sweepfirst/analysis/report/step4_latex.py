"""The summary as LaTeX tables: the form a paper takes it in (``summary.tex``).

One ``tabular`` per task (tasks report different metrics): a row per method, a column per metric
(mean ± std over the production seeds, the best mean of each column in bold), the seeds, and the
majority-class rate. It uses booktabs rules (``\\usepackage{booktabs}``); paste it into a
``table`` float or ``\\input`` it. Numbers go through the report's formatter, so they read as in
the HTML.
"""

from __future__ import annotations

from sweepfirst import formatting as fmt
from sweepfirst.analysis.report.model import ReportData, TaskResult

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped (method names hold underscores)."""
    return "".join(_SPECIAL.get(ch, ch) for ch in text)


def summary_latex(data: ReportData) -> str:
    """Every task's summary table, with a comment saying where it came from."""
    parts = [f"% sweepfirst summary of run {data.run.name} (workflow {data.run.workflow_name}):",
             "% production scores on the dev set, mean $\\pm$ std over seeds. Needs \\usepackage{booktabs}."]
    for task in data.tasks:
        if any(cell.production for cell in task.methods):
            parts.append(task_table(task))
    return "\n".join(parts) + "\n"


def task_table(task: TaskResult) -> str:
    """One task's ``tabular``: a row per method, a column per metric."""
    metrics = task.metric_names or (task.metric,)
    means = {m: [cell.metric_summary(m) if m != task.metric else cell.summary for cell in task.methods]
             for m in metrics}
    best = {m: max((s.mean for s in summaries if s is not None), default=None) for m, summaries in means.items()}
    header = ["Method", *(escape(m.replace("_", " ")) for m in metrics), "Seeds", "Majority class"]
    lines = [
        f"% {escape(task.task)}",
        "\\begin{tabular}{l" + "r" * (len(metrics) + 2) + "}",
        "\\toprule",
        " & ".join(header) + " \\\\",
        "\\midrule",
    ]
    for index, cell in enumerate(task.methods):
        values = []
        for metric in metrics:
            summary = means[metric][index]
            if summary is None:
                values.append("--")
                continue
            text = fmt.score(summary.mean) if summary.std is None else \
                f"{fmt.score(summary.mean)} \\pm {fmt.score(summary.std)}"
            if best[metric] is not None and summary.mean == best[metric] and len(task.methods) > 1:
                text = f"\\mathbf{{{text}}}"
            values.append(f"${text}$")
        majority = fmt.score(task.majority_rate) if task.majority_rate is not None else "--"
        lines.append(" & ".join([f"{escape(task.task)} / {escape(cell.method)}", *values,
                                 str(len(cell.production)), majority]) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines)
