"""Every random source of a fold, seeded from (seed, fold, epoch, item).

Each item is drawn under its own seed, a function of (seed, fold, epoch, index):
the dataset's albumentations pipeline (`dataset.transforms`, which keeps its own
generator that no global seed reaches) and the global `random`, NumPy and torch
generators. So an item's augmentation does not depend on which loader worker drew
it, on `num_workers`, or on where a resumed run restarted. The model side (weight
init, dropout, mixup, the shuffle order) draws from streams seeded once per fold
and once per epoch.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

# Distinct streams of one (seed, fold), so that no two sources share numbers.
INIT, EPOCH, ITEM, VAL_ITEM, SHUFFLE, MIXUP, LOADER = range(7)


def derive_seed(*keys: int) -> int:
    """A 32-bit seed mixing `keys` (non-negative integers) through NumPy's SeedSequence."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


def seed_epoch(seed: int, fold: int, epoch: int) -> None:
    """The global generators the model side draws from (dropout, drop path, torch.randperm)."""
    value = derive_seed(seed, fold, EPOCH, epoch)
    torch.manual_seed(value)
    np.random.seed(value)
    random.seed(value)


class SeededItems(Dataset):
    """Wraps a dataset so that item `(index, epoch)` (train) or `index` (val) is drawn
    under its own seed. Everything else is the wrapped dataset's (`ids`, `frame`, ...)."""

    def __init__(self, dataset, seed: int, fold: int):
        self.dataset, self.seed, self.fold = dataset, seed, fold

    def __len__(self):
        return len(self.dataset)

    def __getattr__(self, name):
        if name == "dataset":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, key):
        index, stream = (key[0], (ITEM, key[1])) if isinstance(key, tuple) else (key, (VAL_ITEM,))
        value = derive_seed(self.seed, self.fold, *stream, index)
        if torch.utils.data.get_worker_info() is not None:
            # a loader worker draws data only: nothing of its generators needs keeping
            return self._draw(index, value)
        # In the training process the global generators also serve dropout and mixup,
        # whose streams must not depend on how many items were drawn here.
        states = torch.default_generator.get_state(), np.random.get_state(), random.getstate()
        try:
            return self._draw(index, value)
        finally:
            torch.default_generator.set_state(states[0])
            np.random.set_state(states[1])
            random.setstate(states[2])

    def _draw(self, index: int, value: int):
        torch.default_generator.manual_seed(value)
        np.random.seed(value)
        random.seed(value)
        transforms = getattr(self.dataset, "transforms", None)
        if hasattr(transforms, "set_random_seed"):
            transforms.set_random_seed(value)
        return self.dataset[index]


class EpochKeys(Sampler):
    """Yields `(index, epoch)` for each index of `order` (a sampler over the dataset's
    rows, or None for a fresh permutation every epoch); Lightning sets the epoch."""

    def __init__(self, size: int, seed: int, fold: int, order=None):
        self.size, self.seed, self.fold, self.order, self.epoch = size, seed, fold, order, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.order, "set_epoch"):
            self.order.set_epoch(epoch)

    def __len__(self):
        return self.size if self.order is None else len(self.order)

    def __iter__(self):
        if self.order is None:
            rng = np.random.default_rng(derive_seed(self.seed, self.fold, SHUFFLE, self.epoch))
            indices = rng.permutation(self.size).tolist()
        else:
            indices = iter(self.order)
        epoch = self.epoch
        for index in indices:
            yield int(index), epoch
