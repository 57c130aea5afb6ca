"""Datasets and data loaders of a fold, built from the config."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from skp.registry import resolve
from skp.tasks.distillation import with_teacher
from skp.tasks.samplers import build_sampler
from skp.tasks.seeding import LOADER, SHUFFLE, EpochKeys, SeededItems, derive_seed


def build_datasets(cfg) -> tuple:
    dataset_class = resolve("datasets", cfg.dataset)
    return with_teacher(dataset_class(cfg, "train"), cfg), dataset_class(cfg, "val")


def build_loader(cfg, dataset, train: bool) -> DataLoader:
    """A loader whose every item, and the training order, are seeded from (cfg.seed,
    cfg.fold, epoch, index): see skp.tasks.seeding."""
    workers = cfg.num_workers or 0
    seed, fold = cfg.seed, cfg.fold or 0
    sampler = None
    if train:
        order = build_sampler(cfg, dataset, derive_seed(seed, fold, SHUFFLE))
        sampler = EpochKeys(len(dataset), seed, fold, order)
    return DataLoader(
        SeededItems(dataset, seed, fold),
        batch_size=cfg.batch_size if train else (cfg.val_batch_size or cfg.batch_size),
        sampler=sampler,
        drop_last=train and len(dataset) > cfg.batch_size,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=torch.cuda.is_available() if cfg.pin_memory is None else bool(cfg.pin_memory),  # page-locked: async copies to the GPU
        # its own generator: creating an iterator must not draw from the global one,
        # or dropout's numbers would depend on num_workers and persistent workers
        generator=torch.Generator().manual_seed(derive_seed(seed, fold, LOADER)),
    )
