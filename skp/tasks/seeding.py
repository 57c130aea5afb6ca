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


_MASK = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def item_seed(base: int, index: int) -> int:
    """A 32-bit seed for item `index` of a stream: a few microseconds, where SeedSequence
    would cost ten per item."""
    return _splitmix64(base ^ _splitmix64(index)) & 0xFFFFFFFF


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
        self._bases = {}

    def __len__(self):
        return len(self.dataset)

    def __getattr__(self, name):
        if name in ("dataset", "_bases"):  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def _base(self, stream: tuple) -> int:
        if stream not in self._bases:
            self._bases[stream] = derive_seed(self.seed, self.fold, *stream)
        return self._bases[stream]

    def __getitem__(self, key):
        index, stream = (key[0], (ITEM, key[1])) if isinstance(key, tuple) else (key, (VAL_ITEM,))
        value = item_seed(self._base(stream), index)
        if torch.utils.data.get_worker_info() is not None:
            return self._draw(index, value)
        # In the training process the torch generator also serves dropout and
        # torch.randperm, whose numbers must not depend on how many items were drawn
        # here. (NumPy's and random's global state is left as the item seeded it:
        # skp's model side draws from its own generators.)
        state = torch.default_generator.get_state()
        try:
            return self._draw(index, value)
        finally:
            torch.default_generator.set_state(state)

    def _draw(self, index: int, value: int):
        torch.default_generator.manual_seed(value)
        np.random.seed(value)
        random.seed(value)
        transforms = getattr(self.dataset, "transforms", None)
        if hasattr(transforms, "set_random_state"):  # albumentations 2: one shared pair is cheapest
            transforms.set_random_state(np.random.default_rng(value), random.Random(value))
        elif hasattr(transforms, "set_random_seed"):
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
