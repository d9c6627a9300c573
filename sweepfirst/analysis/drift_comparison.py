"""Drift compared like scores are: across production seeds, per layer and per matrix type, with
the report's own statistics (`sweepfirst.analysis.statistics`): a mean with its t-based 95%
interval per method, and the paired (by seed) difference between methods with its t-test.

The input is what drift jobs recorded (their ``metrics``); nothing here loads a model. Every
number the report shows is a field of these dataclasses, so ``report.json`` carries them all.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sweepfirst.analysis.statistics import (
    PairedComparison,
    SeedSummary,
    compare_paired,
    summarize_seeds,
)

#: The CKA variant comparisons and sentences use: debiased (small samples need it), mean-pooled.
HEADLINE_CKA = "cka_mean_debiased"
CKA_VARIANTS = ("cka_mean", "cka_mean_debiased", "cka_cls", "cka_cls_debiased")
#: Matrix types in the order the report lists them.
MATRIX_ORDER = ("query", "key", "value", "attention_output", "ffn_in", "ffn_out")
SIGNIFICANCE = 0.05


@dataclasses.dataclass(frozen=True)
class DriftRun:
    """One tuned model's drift, as its drift job recorded it."""

    job_name: str
    source_job: int
    #: "production" or "baseline".
    source_phase: str
    task: str
    method: str
    seed: int
    model_path: str
    model_kind: str
    model_sha256: str | None
    examples: int
    #: One record per hidden state: layer, name and the four CKA values.
    layers: tuple[Mapping[str, Any], ...]
    #: One record per weight matrix: layer, matrix, relative_change, effective_rank, intruders.
    matrices: tuple[Mapping[str, Any], ...]
    intruder_top_k: int | None = None
    intruder_threshold: float | None = None

    @classmethod
    def from_metrics(cls, job_name: str, metrics: Mapping[str, Any]) -> DriftRun:
        model = metrics.get("model") or {}
        return cls(job_name=job_name, source_job=int(metrics["source_job"]),
                   source_phase=str(metrics["source_phase"]), task=str(metrics["task"]),
                   method=str(metrics["method"]), seed=int(metrics["seed"]),
                   model_path=str(model.get("path", "")), model_kind=str(model.get("kind", "")),
                   model_sha256=model.get("sha256"), examples=int(metrics.get("examples", 0)),
                   layers=tuple(metrics.get("layers") or ()), matrices=tuple(metrics.get("matrices") or ()),
                   intruder_top_k=metrics.get("intruder_top_k"), intruder_threshold=metrics.get("intruder_threshold"))

    @property
    def intruders_total(self) -> int:
        return sum(int(m["intruders"]) for m in self.matrices)

    def cka(self, variant: str = HEADLINE_CKA) -> dict[int, float]:
        # None (and NaN, in files written before it was None) is CKA undefined at that layer.
        return {int(rec["layer"]): float(rec[variant]) for rec in self.layers
                if rec.get(variant) is not None and math.isfinite(float(rec[variant]))}


@dataclasses.dataclass(frozen=True)
class LayerDrift:
    """One hidden state of one method: CKA to the base, each variant summarised over seeds."""

    layer: int
    name: str
    #: Variant ("cka_mean", "cka_mean_debiased", "cka_cls", "cka_cls_debiased") -> summary;
    #: a variant that is undefined at this layer (constant [CLS] embeddings) is left out.
    cka: Mapping[str, SeedSummary]


@dataclasses.dataclass(frozen=True)
class MatrixDrift:
    """One (layer, matrix type) of one method, over seeds."""

    layer: int
    matrix: str
    relative_change: SeedSummary
    effective_rank: SeedSummary
    intruders: SeedSummary


@dataclasses.dataclass(frozen=True)
class MethodDrift:
    """One method's (production or baseline) models of one task, summarised over seeds."""

    method: str
    source_phase: str
    seeds: tuple[int, ...]
    layers: tuple[LayerDrift, ...]
    matrices: tuple[MatrixDrift, ...]
    #: Relative change averaged over layers, per matrix type.
    relative_change_by_type: Mapping[str, SeedSummary]
    #: Intruder dimensions summed over every matrix of a model.
    intruders_total: SeedSummary
    #: Intruders summed over layers, per matrix type.
    intruders_by_type: Mapping[str, SeedSummary]
    #: Spearman correlation of depth with mean headline CKA (negative: similarity falls with
    #: depth, Merchant et al. 2020's pattern); None with fewer than 3 layers or constant CKA.
    depth_spearman: float | None
    depth_sentence: str


@dataclasses.dataclass(frozen=True)
class DriftTest:
    """One paired comparison of two methods on one quantity, and what it shows in words."""

    quantity: str
    paired: PairedComparison
    sentence: str


@dataclasses.dataclass(frozen=True)
class DriftComparison:
    """Method A minus method B (production models, paired by seed) on one task."""

    method_a: str
    method_b: str
    cka_by_layer: tuple[DriftTest, ...]
    relative_change_by_type: tuple[DriftTest, ...]
    intruders_total: DriftTest


@dataclasses.dataclass(frozen=True)
class TaskDrift:
    task: str
    methods: tuple[MethodDrift, ...]
    comparisons: tuple[DriftComparison, ...]


@dataclasses.dataclass(frozen=True)
class DriftReport:
    """Everything the report's "How the model changed" section shows."""

    tasks: tuple[TaskDrift, ...]
    runs: tuple[DriftRun, ...]
    examples: int
    intruder_top_k: int | None
    intruder_threshold: float | None
    #: The CKA variant the comparisons use.
    headline_cka: str = HEADLINE_CKA


def _summaries(values_by_seed: Sequence[Mapping[Any, float]]) -> dict[Any, SeedSummary]:
    keys = sorted({k for values in values_by_seed for k in values}, key=str)
    return {k: summarize_seeds([v[k] for v in values_by_seed if k in v]) for k in keys}


def _type_means(run: DriftRun, field: str, reduce: Callable[[list[float]], float]) -> dict[str, float]:
    grouped: dict[str, list[float]] = defaultdict(list)
    for record in run.matrices:
        grouped[str(record["matrix"])].append(float(record[field]))
    return {matrix: reduce(values) for matrix, values in grouped.items()}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _method_drift(method: str, phase: str, runs: Sequence[DriftRun]) -> MethodDrift:
    runs = sorted(runs, key=lambda r: r.seed)
    names = {int(rec["layer"]): str(rec["name"]) for r in runs for rec in r.layers}
    layers = []
    for layer in sorted(names):
        cka = {}
        for variant in CKA_VARIANTS:
            values = [r.cka(variant)[layer] for r in runs if layer in r.cka(variant)]
            if values:
                cka[variant] = summarize_seeds(values)
        layers.append(LayerDrift(layer=layer, name=names[layer], cka=cka))
    cells: dict[tuple[int, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for rec in run.matrices:
            for field in ("relative_change", "effective_rank", "intruders"):
                cells[(int(rec["layer"]), str(rec["matrix"]))][field].append(float(rec[field]))
    matrices = tuple(
        MatrixDrift(layer=layer, matrix=matrix, **{f: summarize_seeds(v) for f, v in fields.items()})
        for (layer, matrix), fields in sorted(cells.items(), key=lambda kv: (kv[0][0], _type_rank(kv[0][1])))
    )
    spearman, sentence = _depth_pattern(method, layers)
    return MethodDrift(
        method=method, source_phase=phase, seeds=tuple(r.seed for r in runs), layers=tuple(layers),
        matrices=matrices,
        relative_change_by_type=_ordered(_summaries([_type_means(r, "relative_change", _mean) for r in runs])),
        intruders_total=summarize_seeds([float(r.intruders_total) for r in runs]),
        intruders_by_type=_ordered(_summaries([_type_means(r, "intruders", lambda v: float(sum(v))) for r in runs])),
        depth_spearman=spearman, depth_sentence=sentence,
    )


def _type_rank(matrix: str) -> int:
    return MATRIX_ORDER.index(matrix) if matrix in MATRIX_ORDER else len(MATRIX_ORDER)


def _ordered(by_type: Mapping[str, SeedSummary]) -> dict[str, SeedSummary]:
    return {k: by_type[k] for k in sorted(by_type, key=_type_rank)}


def _depth_pattern(method: str, layers: Sequence[LayerDrift]) -> tuple[float | None, str]:
    """Does CKA to the base fall with depth (Merchant et al. 2020)? Described, not tested: the
    layers of one model are not independent samples."""
    points = [(ld.layer, ld.cka[HEADLINE_CKA].mean) for ld in layers if HEADLINE_CKA in ld.cka]
    if len(points) < 3:
        return None, f"{method}: too few layers to describe a depth pattern."
    from scipy.stats import spearmanr

    first, last = points[0], points[-1]
    lowest = min(points, key=lambda p: p[1])
    cka_values = [c for _, c in points]
    rho = None if max(cka_values) - min(cka_values) < 1e-12 else float(spearmanr([p[0] for p in points], cka_values).statistic)
    trend = ("falls with depth" if rho is not None and rho <= -0.7 else
             "rises with depth" if rho is not None and rho >= 0.7 else
             "shows no monotone trend with depth")
    return rho, (
        f"{method}: debiased CKA to the base {trend} (Spearman ρ over layers "
        f"{'undefined' if rho is None else f'{rho:+.2f}'}): {first[1]:.3f} at the "
        f"{layers[0].name}, {last[1]:.3f} at {layers[-1].name}, lowest {lowest[1]:.3f} at "
        f"{next(ld.name for ld in layers if ld.layer == lowest[0])}.")


def _test(quantity: str, a: str, b: str, a_by_seed: Mapping[int, float],
          b_by_seed: Mapping[int, float], unit: str = "") -> DriftTest:
    paired = compare_paired(a_by_seed, b_by_seed)
    return DriftTest(quantity=quantity, paired=paired, sentence=_sentence(quantity, a, b, paired, unit))


def _sentence(quantity: str, a: str, b: str, p: PairedComparison, unit: str) -> str:
    if p.mean_difference is None or p.n == 0:
        return f"{quantity}: no seed has both {a} and {b}, so nothing can be compared."
    diff = f"{p.mean_difference:+.4g}{unit}"
    if p.p_value is None:
        if p.std_difference == 0.0 or (p.note and "same" in p.note.lower()):
            return (f"{quantity}: {a} − {b} is {diff} on every one of {p.n} seed"
                    f"{'s' if p.n != 1 else ''} (no spread, so no test).")
        return f"{quantity}: {a} − {b} = {diff} from {p.n} seed(s); too few seeds for a test."
    ci = f"95% CI [{p.ci_low:+.4g}, {p.ci_high:+.4g}]" if p.ci_low is not None and p.ci_high is not None else "no interval"
    if p.p_value < SIGNIFICANCE:
        direction = "higher" if p.mean_difference > 0 else "lower"
        return (f"{quantity}: {a} is {direction} than {b} by {abs(p.mean_difference):.4g}{unit} "
                f"({ci}, paired t-test p = {p.p_value:.3g}, {p.n} seeds).")
    return (f"{quantity}: no detectable difference between {a} and {b} ({a} − {b} = {diff}, "
            f"{ci}, p = {p.p_value:.3g}, {p.n} seeds).")


def _comparison(a: str, b: str, runs_a: Sequence[DriftRun], runs_b: Sequence[DriftRun]) -> DriftComparison:
    by_seed_a, by_seed_b = {r.seed: r for r in runs_a}, {r.seed: r for r in runs_b}
    layer_names = {int(rec["layer"]): str(rec["name"]) for r in (*runs_a, *runs_b) for rec in r.layers}
    cka_tests = []
    for layer, name in sorted(layer_names.items()):
        cka_a = {s: r.cka()[layer] for s, r in by_seed_a.items() if layer in r.cka()}
        cka_b = {s: r.cka()[layer] for s, r in by_seed_b.items() if layer in r.cka()}
        if cka_a or cka_b:
            cka_tests.append(_test(f"CKA at {name}", a, b, cka_a, cka_b))
    types = sorted({str(m["matrix"]) for r in (*runs_a, *runs_b) for m in r.matrices}, key=_type_rank)
    change_tests = tuple(
        _test(f"relative change of {t} (mean over layers)", a, b,
              {s: _type_means(r, "relative_change", _mean)[t] for s, r in by_seed_a.items() if t in _type_means(r, "relative_change", _mean)},
              {s: _type_means(r, "relative_change", _mean)[t] for s, r in by_seed_b.items() if t in _type_means(r, "relative_change", _mean)})
        for t in types
    )
    intruders = _test("intruder dimensions (all matrices)", a, b,
                      {s: float(r.intruders_total) for s, r in by_seed_a.items()},
                      {s: float(r.intruders_total) for s, r in by_seed_b.items()})
    return DriftComparison(method_a=a, method_b=b, cka_by_layer=tuple(cka_tests),
                           relative_change_by_type=change_tests, intruders_total=intruders)


def build_drift_report(runs: Iterable[DriftRun]) -> DriftReport | None:
    """The across-seed summaries and method comparisons of a run's drift jobs (None: none)."""
    runs = tuple(sorted(runs, key=lambda r: (r.task, r.method, r.source_phase, r.seed)))
    if not runs:
        return None
    tasks = []
    for task in dict.fromkeys(r.task for r in runs):
        groups: dict[tuple[str, str], list[DriftRun]] = defaultdict(list)
        for run in runs:
            if run.task == task:
                groups[(run.method, run.source_phase)].append(run)
        methods = tuple(_method_drift(m, p, g) for (m, p), g in sorted(groups.items(), key=lambda kv: (kv[0][1] != "production", kv[0][0])))
        production = {m: g for (m, p), g in groups.items() if p == "production"}
        comparisons = tuple(_comparison(a, b, production[a], production[b])
                            for a, b in itertools.combinations(sorted(production), 2))
        tasks.append(TaskDrift(task=task, methods=methods, comparisons=comparisons))
    examples = max(r.examples for r in runs)
    return DriftReport(tasks=tuple(tasks), runs=runs, examples=examples,
                       intruder_top_k=runs[0].intruder_top_k, intruder_threshold=runs[0].intruder_threshold)
