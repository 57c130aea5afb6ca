"""Datasets and data loaders of a fold, built from the config."""

from __future__ import annotations

from torch.utils.data import DataLoader

from skp.registry import resolve
from skp.tasks.samplers import build_sampler


def build_datasets(cfg) -> tuple:
    dataset_class = resolve("datasets", cfg.dataset)
    return dataset_class(cfg, "train"), dataset_class(cfg, "val")


def build_loader(cfg, dataset, train: bool) -> DataLoader:
    workers = cfg.num_workers or 0
    sampler = build_sampler(cfg, dataset) if train else None
    return DataLoader(
        dataset,
        batch_size=cfg.batch_size if train else (cfg.val_batch_size or cfg.batch_size),
        shuffle=train and sampler is None,
        sampler=sampler,
        drop_last=train and len(dataset) > cfg.batch_size,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=bool(cfg.pin_memory),
    )
