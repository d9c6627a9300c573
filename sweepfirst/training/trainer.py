"""The HF ``Trainer`` with the three changes sweepfirst needs, and nothing else.

1. Checkpoints are written to a staging folder and published with one rename (see
   ``checkpoints``), so a crash mid-save never leaves a half-written "latest" checkpoint.
2. Training batches are grouped by length with an order fixed by (seed, epoch) (see
   ``sampling``), so a resumed epoch sees the same batches as the interrupted one.
3. Evaluation runs over the eval set in its given order (we sort it by length beforehand), so
   predictions line up with example ids; the stock ``group_by_length`` would shuffle it.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

from torch.utils.data import Sampler, SequentialSampler
from transformers import Trainer

from sweepfirst.training import checkpoints
from sweepfirst.training.sampling import SeededLengthGroupedSampler
from sweepfirst.training.tokenization import LENGTH_COLUMN


class SweepfirstTrainer(Trainer):
    """``Trainer`` with atomic checkpoints, resumable length grouping and ordered evaluation."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._staging_dir: Path | None = None

    # ---- atomic checkpoints ------------------------------------------------------------------

    def _get_output_dir(self, trial: Any) -> str:
        # While a checkpoint is being saved, the "run folder" is a private staging folder:
        # the Trainer writes checkpoint-N there, and we publish it when it is complete.
        if self._staging_dir is not None:
            return str(self._staging_dir)
        return super()._get_output_dir(trial)

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        output_dir = Path(self.args.output_dir or ".")
        staging = checkpoints.staging_root(output_dir) / uuid.uuid4().hex
        staging.mkdir(parents=True)
        self._staging_dir = staging
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._staging_dir = None
        name = checkpoints.checkpoint_name(self.state.global_step)
        checkpoints.publish(staging / name, output_dir / name)
        shutil.rmtree(staging, ignore_errors=True)
        checkpoints.remove_empty_staging(output_dir)
        # The Trainer rotated inside the staging folder (one checkpoint: nothing to do); rotate
        # the published ones here, by step number rather than the Trainer's mtime order.
        checkpoints.prune_checkpoints(output_dir, self.args.save_total_limit)

    # ---- samplers ------------------------------------------------------------------------------

    def _get_train_sampler(self, train_dataset: Any = None) -> Sampler[int] | None:
        dataset = self.train_dataset
        if (
            self.args.train_sampling_strategy == "group_by_length"
            and self.args.world_size <= 1
            and dataset is not None
            and LENGTH_COLUMN in getattr(dataset, "column_names", ())
        ):
            # Lengths from the full dataset: the one passed in has had the column removed.
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            return SeededLengthGroupedSampler(
                # `[:]`: one columnar read; iterating the column reads row by row (slow).
                dataset[LENGTH_COLUMN][:],
                self.args.train_batch_size * self.args.gradient_accumulation_steps,
                seed=seed,
            )
        return super()._get_train_sampler(train_dataset)

    def _get_eval_sampler(self, eval_dataset: Any) -> Sampler[int] | None:
        if self.args.world_size <= 1:
            return SequentialSampler(eval_dataset)
        return super()._get_eval_sampler(eval_dataset)
