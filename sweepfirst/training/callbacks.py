"""Trainer callbacks: the bridge from the training loop to the engine's hooks, and quiet logging."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from sweepfirst.job_progress import JobProgress, interval_seconds, write_progress
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


class ProgressFileCallback(TrainerCallback):
    """Keep the job's ``progress.json`` current (see ``sweepfirst.job_progress``).

    Written at the start, at most every ``interval`` seconds while training, after every
    evaluation and at the end, so readers on any machine (the live view of `run`, `status
    --watch`, the time-left estimate) see steps, epochs, the latest score and the speed without
    asking this process.
    """

    def __init__(self, num_train_examples: int, eval_split: str, *, interval: float | None = None) -> None:
        self.num_train_examples = num_train_examples
        self.eval_split = eval_split
        self.interval = interval if interval is not None else interval_seconds(2.0)
        self._started: float | None = None
        self._start_step = 0
        self._written = 0.0
        self._latest_eval: dict[str, float] = {}
        self._latest_eval_step: int | None = None
        self._train_loss: dict[int, float] = {}

    def _write(self, args: TrainingArguments, state: TrainerState, *, finished: bool = False) -> None:
        now = time.time()
        speed = None
        if self._started is not None and state.global_step > self._start_step and now > self._started:
            # Examples per optimizer step: the batch on each device, times accumulation and devices.
            per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps * max(args.world_size, 1)
            speed = (state.global_step - self._start_step) * per_step / (now - self._started)
        progress = JobProgress(
            step=state.global_step, max_steps=state.max_steps, epoch=float(state.epoch or 0.0),
            num_train_examples=self.num_train_examples, eval_split=self.eval_split,
            examples_per_second=speed, latest_eval=dict(self._latest_eval) or None,
            latest_eval_step=self._latest_eval_step, updated_at=now, finished=finished,
            train_loss=[[step, loss] for step, loss in sorted(self._train_loss.items())] or None,
        )
        try:
            if args.output_dir is not None:  # sweepfirst always sets it: the job's folder
                write_progress(Path(args.output_dir), progress)
        except OSError as error:  # a progress note must never fail the job
            logger.warning("could not write progress.json: %s", error)
        self._written = now

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> None:
        # A resumed job's log holds the losses logged before the checkpoint: the curve is whole.
        self._train_loss = {int(e["step"]): float(e["loss"]) for e in state.log_history
                            if isinstance(e.get("loss"), (int, float)) and "step" in e}
        self._started = time.time()
        self._start_step = state.global_step  # a resumed job starts at its checkpoint's step
        self._write(args, state)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> None:
        if self._started is None:
            self._started, self._start_step = time.time(), state.global_step
        if time.time() - self._written >= self.interval:
            self._write(args, state)

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if logs and isinstance(logs.get("loss"), (int, float)):
            self._train_loss[state.global_step] = float(logs["loss"])

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    metrics: dict[str, float] | None = None, **kwargs: Any) -> None:
        self._latest_eval = {k: float(v) for k, v in (metrics or {}).items() if isinstance(v, (int, float))}
        self._latest_eval_step = state.global_step
        self._write(args, state)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> None:
        self._write(args, state, finished=True)
