"""How the engine watches and steers a running training job.

The runner calls these hooks from inside the training loop; the engine implements them (report an
intermediate score to the sweep's pruner, check the job's lease, notice Ctrl-C). Nothing here
imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable


@runtime_checkable
class TrainingHooks(Protocol):
    """Callbacks from a running job to whoever started it."""

    def on_evaluation(
        self, step: int, epoch: float, metrics: Mapping[str, float], evaluation: int
    ) -> bool:
        """Called after every evaluation with the HF-named metrics (``eval_accuracy``, ...).

        ``evaluation`` counts the job's evaluations from 1, across resumes: the first evaluation
        after resuming from a checkpoint that held three is number 4 (hyperband's rungs are these
        numbers). Return False to stop the job as *pruned*; its latest checkpoint is kept.
        """
        ...

    def should_stop(self) -> bool:
        """Polled after every optimizer step.

        Return True when the job must stop now (lease lost, run cancelled, Ctrl-C): the runner
        saves a checkpoint and returns with status *interrupted*, so a later call can resume.
        """
        ...

    def on_step(self, step: int) -> None:
        """Called after every optimizer step with the job's global step (counted across resumes):
        the engine reports progress, and knows where a worker that died was."""
        ...


class NoHooks:
    """Hooks that never prune and never stop: the job runs to the end."""

    def on_evaluation(
        self, step: int, epoch: float, metrics: Mapping[str, float], evaluation: int
    ) -> bool:
        return True

    def should_stop(self) -> bool:
        return False

    def on_step(self, step: int) -> None:
        return None


#: The default hooks: nothing watches the job.
NO_HOOKS: TrainingHooks = NoHooks()
