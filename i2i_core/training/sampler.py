"""The data a run trains on, as a pure function of the step, and the images its sample grids show."""
from __future__ import annotations

import torch

from ..errors import I2IError


class StepBatches(torch.utils.data.Sampler):
    """Batches of (index, seed) keys as a pure function of the step: resuming needs no data state.

    Epoch e visits a permutation drawn from (seed, e); item (e, position) gets its own seed for
    its random crop, flip and unaligned partner, so workers and restarts never change the data.
    """

    def __init__(self, length: int, batch_size: int, seed: int, start: int, stop: int, rank: int = 0, world: int = 1):
        """``batch_size`` is per process: the step's global batch of ``batch_size × world`` items is
        drawn as for one process, and each rank takes its own slice (a distributed sampler)."""
        self.length, self.batch_size, self.seed = length, batch_size * world, seed
        self.start, self.stop = start, stop
        self.per_epoch = max(1, length // self.batch_size)
        self.rank_slice = slice(rank * batch_size, (rank + 1) * batch_size)

    def __len__(self):
        return max(0, self.stop - self.start)

    def keys_for(self, step: int) -> list:
        epoch, position = divmod(step, self.per_epoch)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        repeats = -(-self.batch_size // self.length)
        order = torch.cat([torch.randperm(self.length, generator=gen) for _ in range(repeats)])
        chosen = order[position * self.batch_size:(position + 1) * self.batch_size].tolist()
        base = (self.seed * 1_000_003 + epoch) * 1_000_033 + position * self.batch_size
        return [(index, base + k) for k, index in enumerate(chosen)]

    def __iter__(self):
        for step in range(self.start, self.stop):
            yield self.keys_for(step)[self.rank_slice]


def open_training_data(options, recipe, build):
    from ..data import open_dataset

    return open_dataset(options.data, paired=recipe.data.paired, phase="train", image_size=build.image_size,
                        channels=build.in_channels, channels_B=build.out_channels, direction=options.direction,
                        load_size=recipe.data.load_size,
                        preprocess_mode=recipe.data.preprocess, flip=recipe.data.flip)


def sample_source(options, recipe, build, train_dataset):
    """The test split the sample grids are drawn from, or the training data when there is none."""
    from ..data import open_dataset

    try:
        return open_dataset(options.data, paired=recipe.data.paired, phase="test", image_size=build.image_size,
                            channels=build.in_channels, channels_B=build.out_channels, direction=options.direction,
                            load_size=build.image_size,
                            preprocess_mode=recipe.data.preprocess, flip=False)
    except I2IError:
        return train_dataset
