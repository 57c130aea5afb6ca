import pytest
import torch

from skp import list_components, resolve
from skp.configs import Config


def _cfg(num_classes):
    cfg = Config()
    cfg.num_classes = num_classes
    return cfg


def _example(name):
    if name.startswith("segmentation."):
        y = torch.zeros(2, 1, 4, 4)
        y[:, :, :2] = 1
        return 1, {"logits": (y * 2 - 1)}, {"y": y}
    if name.startswith("regression."):
        return 1, {"logits": torch.tensor([[1.0], [3.0]])}, {"y": torch.tensor([[2.0], [1.0]])}
    logits = torch.tensor([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0], [3.0, 0.0, 0.0]])
    return 3, {"logits": logits}, {"y": torch.tensor([[0.0], [1.0], [2.0], [1.0]])}


@pytest.mark.parametrize("name", list_components("metrics"))
def test_every_metric_returns_named_values(name):
    k, out, batch = _example(name)
    metric = resolve("metrics", name)(_cfg(k))
    metric.update(out, batch)
    values = metric.compute()
    assert isinstance(values, dict) and values
    assert all(torch.isfinite(torch.as_tensor(v)) for v in values.values())


def test_metric_values_by_hand():
    def value(name, key):
        k, out, batch = _example(name)
        metric = resolve("metrics", name)(_cfg(k))
        half = len(out["logits"]) // 2  # two updates accumulate like two batches
        metric.update({"logits": out["logits"][:half]}, {"y": batch["y"][:half]})
        metric.update({"logits": out["logits"][half:]}, {"y": batch["y"][half:]})
        return float(metric.compute()[key])

    assert value("classification.Accuracy", "accuracy") == pytest.approx(0.75)
    confident, wrong = (-torch.log_softmax(torch.tensor([3.0, 0.0, 0.0]), 0)[[0, 1]]).tolist()
    assert value("classification.LogLoss", "logloss") == pytest.approx((3 * confident + wrong) / 4)
    assert value("regression.MAE", "mae") == pytest.approx(1.5)
    assert value("regression.MSE", "mse") == pytest.approx(2.5)
    assert value("segmentation.Dice", "dice") == pytest.approx(1.0)


def test_binary_metrics():
    metric = resolve("metrics", "classification.AUROC")(_cfg(1))
    metric.update({"logits": torch.tensor([[-2.0], [-1.0], [1.0], [0.5]])}, {"y": torch.tensor([[0.0], [0.0], [1.0], [1.0]])})
    assert float(metric.compute()["auc"]) == pytest.approx(1.0)
    accuracy = resolve("metrics", "classification.Accuracy")(_cfg(1))
    accuracy.update({"logits": torch.tensor([[-2.0], [1.0]])}, {"y": torch.tensor([[0.0], [0.0]])})
    assert float(accuracy.compute()["accuracy"]) == pytest.approx(0.5)
    logloss = resolve("metrics", "classification.LogLoss")(_cfg(1))
    logloss.update({"logits": torch.tensor([[0.0], [0.0]])}, {"y": torch.tensor([[0.0], [1.0]])})
    assert float(logloss.compute()["logloss"]) == pytest.approx(0.6931, abs=1e-4)
