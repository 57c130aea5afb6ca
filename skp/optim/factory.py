from __future__ import annotations

import math

import torch
from timm.optim import create_optimizer_v2, list_optimizers

from skp.errors import SkpError, did_you_mean
from skp.metrics import monitored
from skp.registry import call_with_params, choose


def build_optimizer(cfg, model: torch.nn.Module) -> torch.optim.Optimizer:
    name = str(cfg.optimizer or "adamw").lower()
    known = list_optimizers()
    if name not in known:
        raise SkpError(
            f"Unknown cfg.optimizer {cfg.optimizer!r}.{did_you_mean(name, known)} "
            f"Choose one of timm's optimizers: {', '.join(known)}."
        )
    params = {"opt": name, **(cfg.optimizer_params or {})}  # a copy: folds build from the same values
    return call_with_params(create_optimizer_v2, (model,), params, f"cfg.optimizer_params of {name!r}")


def _warmup_cosine(optimizer, total_steps, warmup=0.0, eta_min_ratio=0.0):
    """Linear warmup from ~0 to the base LR, then cosine down to eta_min_ratio * LR.

    `warmup` is a fraction of all steps when < 1, else a number of steps.
    """
    warmup_steps = int(warmup * total_steps) if warmup < 1 else int(warmup)

    def factor(step):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return eta_min_ratio + (1 - eta_min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _one_cycle(optimizer, total_steps, **params):
    max_lr = [group["lr"] for group in optimizer.param_groups]
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps, **params)


def _cosine(optimizer, total_steps, **params):
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps, **params)


def _plateau(optimizer, total_steps, **params):
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **params)


SCHEDULERS = {
    "LinearWarmupCosineAnnealingLR": _warmup_cosine,
    "OneCycleLR": _one_cycle,
    "CosineAnnealingLR": _cosine,
    "ReduceLROnPlateau": _plateau,
}


def build_scheduler(cfg, optimizer, total_steps: int, num_epochs: int) -> dict | None:
    """Lightning's lr_scheduler config dict, or None when cfg.scheduler is None."""
    if cfg.scheduler is None:
        return None
    factory = choose(SCHEDULERS, cfg.scheduler, "cfg.scheduler")
    interval = cfg.scheduler_interval or "step"
    if interval not in ("step", "epoch"):
        raise SkpError(f"cfg.scheduler_interval must be 'step' or 'epoch', got {interval!r}.")
    total = total_steps if interval == "step" else num_epochs
    params = dict(cfg.scheduler_params or {})
    if cfg.scheduler == "ReduceLROnPlateau":
        params.setdefault("mode", cfg.val_track or "min")
    scheduler = call_with_params(factory, (optimizer, max(1, total)), params, f"cfg.scheduler_params of {cfg.scheduler}")
    config = {"scheduler": scheduler, "interval": interval}
    if cfg.scheduler == "ReduceLROnPlateau":
        config["monitor"] = monitored(cfg)
    return config
