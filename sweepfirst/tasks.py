"""The task registry: what each benchmark task is made of and how it is scored.

Importing this module is cheap (no torch, no transformers): the planner and the CLI use it to
validate a workflow long before anything trains. scikit-learn is imported only when a metric is
computed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sweepfirst.errors import SweepfirstError

TaskKind = Literal["sequence_classification", "question_answering"]

MetricFn = Callable[[Sequence[int], Sequence[int]], dict[str, float]]


@dataclass(frozen=True)
class GlueFileLayout:
    """Where a GLUE task lives in the classic ``glue_data/`` folder and how its TSV columns are named.

    Attributes:
        folder: the sub-folder of the GLUE root (``MRPC``, ``SST-2``, ``RTE``).
        text_columns: TSV header names of the text fields, first sentence first.
        label_column: TSV header name of the gold label.
        label_values: raw label cell -> label index (RTE writes label names, MRPC/SST-2 write 0/1).
    """

    folder: str
    text_columns: tuple[str, ...]
    label_column: str
    label_values: Mapping[str, int]


@dataclass(frozen=True)
class HubLayout:
    """Where a task lives on the Hugging Face Hub and how its columns are named there."""

    dataset: str
    config: str
    text_columns: tuple[str, ...]
    label_column: str = "label"
    train_split: str = "train"
    dev_split: str = "validation"


@dataclass(frozen=True)
class TaskSpec:
    """Everything sweepfirst needs to know about one benchmark task.

    ``kind`` decides which training pipeline the runner uses (see ``PIPELINES`` in the runner).

    Attributes:
        name: registry name, as written in workflows (``mrpc``).
        kind: which pipeline trains it.
        label_names: label index -> human-readable name (index order is the model's output order).
        primary_metric: the HF metric name a sweep optimises and a report compares (``eval_accuracy``).
        metric_names: the metrics ``compute_metrics`` returns, without the ``eval_`` prefix.
        glue: where the task lives in a local ``glue_data/`` folder, if it is there at all.
        hub: where the task lives on the Hub (GLUE-style layouts; SQuAD v2's loader knows its own).
        min_seq_length: the shortest ``max_seq_length`` the task's pipeline trains with; a shorter
            request is raised to it (one ``data.max_seq_length`` serves every task of a workflow,
            and question-answering windows need room for a question and a stretch of context).
    """

    name: str
    kind: TaskKind
    label_names: tuple[str, ...]
    primary_metric: str
    metric_names: tuple[str, ...]
    glue: GlueFileLayout | None = None
    hub: HubLayout | None = None
    greater_is_better: bool = True
    min_seq_length: int = 8
    description: str = field(default="", compare=False)

    @property
    def num_labels(self) -> int:
        """How many classes the classifier head has."""
        return len(self.label_names)

    @property
    def num_text_fields(self) -> int:
        """1 for single-sentence tasks (SST-2), 2 for sentence-pair tasks (MRPC, RTE)."""
        layout = self.glue or self.hub
        return len(layout.text_columns) if layout is not None else 1

    def compute_metrics(
        self, predictions: Sequence[int], labels: Sequence[int]
    ) -> dict[str, float]:
        """Score predicted label indices against gold label indices.

        Returns the metrics named in ``metric_names`` (no ``eval_`` prefix; the Trainer adds it).
        Classification tasks only: a question-answering task is scored from answer spans by the
        official SQuAD 2.0 metric, inside its pipeline.
        """
        if self.kind != "sequence_classification":
            raise SweepfirstError(
                f"Task {self.name!r} is scored from answer spans, not label indices; "
                "use the question-answering pipeline's scorer."
            )
        from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

        available: dict[str, Callable[[], float]] = {
            "accuracy": lambda: float(accuracy_score(labels, predictions)),
            # GLUE's F1 is the F1 of the positive class (label 1), as in the official scorer.
            "f1": lambda: float(f1_score(labels, predictions, pos_label=1, zero_division=0)),
            "matthews_correlation": lambda: float(matthews_corrcoef(labels, predictions)),
        }
        return {name: available[name]() for name in self.metric_names}


_BINARY = {"0": 0, "1": 1}

TASKS: dict[str, TaskSpec] = {
    "mrpc": TaskSpec(
        name="mrpc",
        kind="sequence_classification",
        label_names=("not_equivalent", "equivalent"),
        primary_metric="eval_accuracy",
        metric_names=("accuracy", "f1"),
        glue=GlueFileLayout("MRPC", ("#1 String", "#2 String"), "Quality", _BINARY),
        hub=HubLayout("nyu-mll/glue", "mrpc", ("sentence1", "sentence2")),
        description="Microsoft Research Paraphrase Corpus: are two sentences paraphrases?",
    ),
    "sst2": TaskSpec(
        name="sst2",
        kind="sequence_classification",
        label_names=("negative", "positive"),
        primary_metric="eval_accuracy",
        metric_names=("accuracy",),
        glue=GlueFileLayout("SST-2", ("sentence",), "label", _BINARY),
        hub=HubLayout("nyu-mll/glue", "sst2", ("sentence",)),
        description="Stanford Sentiment Treebank, binary: is a movie-review phrase positive?",
    ),
    "rte": TaskSpec(
        name="rte",
        kind="sequence_classification",
        label_names=("entailment", "not_entailment"),
        primary_metric="eval_accuracy",
        metric_names=("accuracy",),
        # RTE's TSVs hold the label names themselves; the index order matches the Hub's ClassLabel.
        glue=GlueFileLayout(
            "RTE", ("sentence1", "sentence2"), "label", {"entailment": 0, "not_entailment": 1}
        ),
        hub=HubLayout("nyu-mll/glue", "rte", ("sentence1", "sentence2")),
        description="Recognizing Textual Entailment: does the first sentence entail the second?",
    ),
    # Data: the Hub's rajpurkar/squad_v2, or the official JSON files in <data_dir>/squad_v2/
    # (dev-v2.0.json, optionally train-v2.0.json); see training/qa_data.py and qa_splits.py.
    "squad_v2": TaskSpec(
        name="squad_v2",
        kind="question_answering",
        label_names=(),
        primary_metric="eval_f1",
        # The official evaluate-v2.0.py names, at the official null-score threshold; the
        # threshold-tuned best_* scores are kept out (tuned on the split they would report).
        metric_names=("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1"),
        # 384-token windows (stride 128) are the usual SQuAD setting, and shorter ones cost more:
        # they overlap more (SQuAD 2.0 dev: 255 tokens per question at 128, 184 at 384).
        min_seq_length=384,
        description="SQuAD 2.0: extract the answer span from a paragraph, or say there is none.",
    ),
}

#: How task kinds are named in messages, in the order they are listed.
_KIND_NAMES: dict[str, str] = {
    "sequence_classification": "classification",
    "question_answering": "question answering",
}


def get_task(name: str) -> TaskSpec:
    """Return the registered task called ``name``, or raise a SweepfirstError listing valid names."""
    try:
        return TASKS[name]
    except KeyError:
        raise SweepfirstError(f"Unknown task {name!r}; use one of: {_valid_names()}.") from None


def _valid_names() -> str:
    """``mrpc, rte, sst2 (classification), squad_v2 (question answering)``."""
    groups = []
    for kind, label in _KIND_NAMES.items():
        names = sorted(n for n, spec in TASKS.items() if spec.kind == kind)
        if names:
            groups.append(f"{', '.join(names)} ({label})")
    return ", ".join(groups)


def register_task(spec: TaskSpec, *, replace: bool = False) -> None:
    """Add a task to the registry (how SQuAD v2 and other tasks plug in)."""
    if spec.name in TASKS and not replace:
        raise SweepfirstError(f"Task {spec.name!r} is already registered.")
    TASKS[spec.name] = spec

