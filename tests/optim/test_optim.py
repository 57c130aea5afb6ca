import pytest
import torch

from skp.configs import Config
from skp.errors import SkpError
from skp.optim import SCHEDULERS, build_optimizer, build_scheduler


def _cfg(**attrs):
    cfg = Config()
    cfg.optimizer, cfg.optimizer_params = "adamw", {"lr": 1e-3, "betas": (0.9, 0.99), "weight_decay": 0.01}
    cfg.val_metric, cfg.val_track = "accuracy", "max"
    for key, value in attrs.items():
        setattr(cfg, key, value)
    return cfg


@pytest.mark.parametrize("name", ["adamw", "AdamW", "sgd", "adamp", "lion", "lamb"])
def test_optimizers_by_name(name):
    cfg = _cfg(optimizer=name, optimizer_params={"lr": 0.01})
    optimizer = build_optimizer(cfg, torch.nn.Linear(2, 2))
    assert optimizer.param_groups[0]["lr"] == 0.01


def test_building_never_mutates_the_config():
    # The seed popped keys out of optimizer_params, so fold 2 got other betas.
    cfg = _cfg()
    before = dict(cfg.optimizer_params)
    for _ in range(2):
        optimizer = build_optimizer(cfg, torch.nn.Linear(2, 2))
        assert optimizer.param_groups[0]["betas"] == (0.9, 0.99)
    assert cfg.optimizer_params == before


def test_unknown_optimizer_suggests():
    with pytest.raises(SkpError, match="adamw"):
        build_optimizer(_cfg(optimizer="adamx"), torch.nn.Linear(2, 2))


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_every_scheduler_builds(name):
    params = {"warmup": 0.1} if name == "LinearWarmupCosineAnnealingLR" else {}
    cfg = _cfg(scheduler=name, scheduler_params=params)
    optimizer = build_optimizer(cfg, torch.nn.Linear(2, 2))
    scheduler = build_scheduler(cfg, optimizer, total_steps=100, num_epochs=10)
    assert scheduler["interval"] == "step"
    assert cfg.scheduler_params == params


def test_warmup_cosine_shape():
    cfg = _cfg(scheduler="LinearWarmupCosineAnnealingLR", scheduler_params={"warmup": 10}, optimizer_params={"lr": 1.0})
    optimizer = build_optimizer(cfg, torch.nn.Linear(2, 2))
    scheduler = build_scheduler(cfg, optimizer, total_steps=100, num_epochs=1)["scheduler"]
    lrs = []
    for _ in range(100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(0.1)
    assert max(lrs) == pytest.approx(1.0) and lrs.index(max(lrs)) == 9
    assert lrs[-1] < 0.01


def test_bad_scheduler_input():
    with pytest.raises(SkpError, match="OneCycleLR"):
        build_scheduler(_cfg(scheduler="OneCycle"), None, 10, 1)
    cfg = _cfg(scheduler="CosineAnnealingLR", scheduler_params={"warmup": 3})
    with pytest.raises(SkpError, match="do not fit"):
        build_scheduler(cfg, build_optimizer(cfg, torch.nn.Linear(2, 2)), 10, 1)
