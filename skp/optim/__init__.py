"""Optimizers and learning-rate schedulers by name.

`cfg.optimizer` is any name in `timm.optim.list_optimizers()` (adamw, sgd, adamp,
lion, lamb, ...), case-insensitive, with keyword arguments from
`cfg.optimizer_params`. `cfg.scheduler` is one of `SCHEDULERS` (or None) with
`cfg.scheduler_params`, stepped every `cfg.scheduler_interval` ("step"/"epoch").
"""

from skp.optim.factory import SCHEDULERS, build_optimizer, build_scheduler

__all__ = ["SCHEDULERS", "build_optimizer", "build_scheduler"]
