"""Length-grouped batching whose order is a pure function of (seed, epoch).

transformers' own ``group_by_length`` sampler has two problems for us:

* It draws its permutation from the *global* torch RNG when the epoch's iterator is created. When a
  job resumes in the middle of an epoch, that RNG is in a different state than it was when the
  interrupted run created the same iterator, so the resumed epoch visits the examples in a
  different order: some twice, some never. Seeding the permutation with ``seed + epoch`` makes the
  resumed epoch identical to the original one, so skipping the already-trained batches is exact.
* The Trainer removes unused columns (our precomputed ``length``) before it builds the sampler, so
  it would re-measure every example; we hand the sampler the lengths we stored at tokenization.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler
from transformers.trainer_pt_utils import get_length_grouped_indices


class SeededLengthGroupedSampler(Sampler[int]):
    """Yield indices in batches of similar length, in an order fixed by ``seed`` and the epoch.

    The accelerate data loader calls ``set_epoch`` at the start of every epoch (also after a
    resume), which is how the epoch enters the seed.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the order of epoch ``epoch``."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator()
        generator.manual_seed(self.seed + self.epoch)
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=generator))
