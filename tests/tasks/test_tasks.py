import pytest
import torch

from skp import list_components, resolve
from skp.tasks.base import NonFiniteLossError
from skp.tasks.data import build_datasets, build_loader
from tests.components import config_using

# Steps run here without a Trainer, so Lightning's self.log() has nowhere to send values.
pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log")


@pytest.mark.parametrize("name", list_components("tasks"))
def test_every_task_trains_and_validates_a_batch(name, small_config):
    cfg = small_config(config_using("task", name))
    train, val = build_datasets(cfg)
    task = resolve("tasks", name)(cfg)
    loss = task.training_step(next(iter(build_loader(cfg, train, True))), 0)
    loss.backward()
    assert torch.isfinite(loss)
    task.eval()
    with torch.no_grad():
        task.validation_step(next(iter(build_loader(cfg, val, False))), 0)
    assert task._collected and "index" in task._collected[0]


def test_nan_loss_stops_training_with_advice(small_config):
    cfg = small_config("digits.cfg_baseline")
    train, _ = build_datasets(cfg)
    task = resolve("tasks", cfg.task)(cfg)
    batch = next(iter(build_loader(cfg, train, True)))
    batch["x"][0, 0, 0, 0] = float("nan")
    task.training_step(batch, 0)  # no host read of the loss on this step
    with pytest.raises(NonFiniteLossError, match="lr"):
        task.on_train_epoch_end()  # caught within the epoch


def test_mixup_mixes_one_hot_targets(small_config):
    cfg = small_config("digits.cfg_baseline", ["--mixup", "1.0", "--mixup_prob", "1.0"])
    train, _ = build_datasets(cfg)
    task = resolve("tasks", cfg.task)(cfg)
    mixed = task.prepare_training_batch(next(iter(build_loader(cfg, train, True))))
    assert mixed["y"].shape == (cfg.batch_size, 10)
    assert mixed["y"].sum(1) == pytest.approx(torch.ones(cfg.batch_size))
