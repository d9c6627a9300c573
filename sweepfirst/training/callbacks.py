"""Trainer callbacks: the bridge from the training loop to the engine's hooks, and quiet logging."""

from __future__ import annotations

import logging
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from sweepfirst.training.hooks import TrainingHooks

logger = logging.getLogger(__name__)


class HooksCallback(TrainerCallback):
    """Report evaluations to ``hooks`` and stop the loop when they say so.

    * after an evaluation, ``hooks.on_evaluation`` returning False stops the job as *pruned*; a
      checkpoint is saved at that step (if checkpoints are on), so a promotion can continue it.
      At the last step there is nothing left to save: the job completes.
    * after every optimizer step, ``hooks.should_stop`` returning True saves a checkpoint and stops
      the job as *interrupted*.
    """

    def __init__(self, hooks: TrainingHooks, save_checkpoints: bool) -> None:
        self.hooks = hooks
        self.save_checkpoints = save_checkpoints
        self.active = True
        self.pruned = False
        self.interrupted = False

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if self.active:
            self.hooks.on_step(state.global_step)
        if self.active and not self.pruned and self.hooks.should_stop():
            logger.info(
                "Stop requested at step %d; saving a checkpoint and stopping.", state.global_step
            )
            self.interrupted = True
            control.should_training_stop = True
            if self.save_checkpoints:
                control.should_save = True
        return control

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> TrainerControl:
        # Only evaluations made inside the training loop steer it; the runner switches the bridge
        # off before an evaluation of a job that had already finished, which is not news.
        if not self.active:
            return control
        numeric = {k: float(v) for k, v in (metrics or {}).items() if isinstance(v, (int, float))}
        # The Trainer logs an evaluation before this callback, and a resumed state carries the
        # log of the run it resumes, so this counts every evaluation of the job, this one included.
        evaluation = sum(1 for entry in state.log_history if "eval_runtime" in entry)
        keep_going = self.hooks.on_evaluation(
            state.global_step, float(state.epoch or 0.0), numeric, evaluation
        )
        # A job whose training is over completes: pausing it at its last step would save nothing.
        if not keep_going and state.global_step < state.max_steps:
            logger.info("Pruned after the evaluation at step %d.", state.global_step)
            self.pruned = True
            control.should_training_stop = True
            if self.save_checkpoints:
                control.should_save = True
        return control


class LogFileCallback(TrainerCallback):
    """Send the Trainer's periodic logs (loss, learning rate, eval metrics) to our logger.

    Replaces the stock ``PrinterCallback``, which prints every log dict to stdout.
    """

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if logs:
            shown = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in logs.items()}
            logger.info("step %d: %s", state.global_step, shown)
