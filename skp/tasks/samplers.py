"""Samplers named by `cfg.sampler` with options from `cfg.sampler_params`.

IterationBasedSampler: a fixed number of samples per epoch (cfg.sampler_params
num_samples), drawn as shuffled passes over the data, so "epoch" length does not
depend on dataset size. WeightedSampler: draws with replacement by a column of
the annotations (sampler_params weights_column), e.g. to oversample rare classes.
Both draw each epoch's order from (seed, epoch) alone (Lightning calls `set_epoch`),
so a resumed run draws what the uninterrupted one would have.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Sampler, WeightedRandomSampler

from skp.errors import SkpError
from skp.registry import call_with_params, choose
from skp.tasks.seeding import derive_seed


class IterationBasedSampler(Sampler):
    def __init__(self, dataset, num_samples: int, seed: int = 0):
        self.size, self.num_samples, self.seed, self.epoch = len(dataset), int(num_samples), seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self):
        return self.num_samples

    def __iter__(self):
        rng = np.random.default_rng(derive_seed(self.seed, self.epoch))
        passes = -(-self.num_samples // self.size)
        order = np.concatenate([rng.permutation(self.size) for _ in range(passes)])
        return iter(order[: self.num_samples].tolist())


class WeightedSampler(WeightedRandomSampler):
    def __init__(self, dataset, weights_column: str, num_samples: int | None = None, seed: int = 0):
        if weights_column not in dataset.frame.columns:
            raise SkpError(
                f"sampler_params weights_column {weights_column!r} is not a column of the "
                f"annotations ({list(dataset.frame.columns)})."
            )
        weights = torch.as_tensor(dataset.frame[weights_column].to_numpy(np.float64, copy=True))
        super().__init__(weights, num_samples or len(weights), replacement=True, generator=torch.Generator())
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        self.generator.manual_seed(derive_seed(self.seed, self.epoch))
        return super().__iter__()


DATA_SAMPLERS = {"IterationBasedSampler": IterationBasedSampler, "WeightedSampler": WeightedSampler}


def build_sampler(cfg, dataset, seed: int = 0):
    """The training sampler cfg.sampler names, or None for plain shuffling."""
    if cfg.sampler is None:
        return None
    sampler = choose(DATA_SAMPLERS, cfg.sampler, "cfg.sampler")
    params = {"seed": seed, **(cfg.sampler_params or {})}
    return call_with_params(sampler, (dataset,), params, f"cfg.sampler_params of {cfg.sampler}")
