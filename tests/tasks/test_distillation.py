"""A student's training: the loss mixed with the teacher's, teacher targets in the items."""

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from skp import resolve
from skp.configs import Config
from skp.errors import SkpError
from skp.tasks.distillation import Distillation, TeacherTargets, with_distillation, with_teacher


def _cfg(loss="classification.CrossEntropyLoss", teacher="teacher", temperature=2.0, weight=0.5):
    cfg = Config()
    cfg.task, cfg.loss, cfg.loss_params, cfg.id_column = "classification", loss, {}, "id"
    cfg.distil = {"teacher": teacher, "temperature": temperature, "weight": weight}
    return cfg


def _loss(cfg):
    return with_distillation(resolve("losses", cfg.loss)(cfg), cfg)


def _batch():
    torch.manual_seed(0)
    logits = torch.randn(6, 4, requires_grad=True)
    y = torch.tensor([[0.0], [1.0], [2.0], [3.0], [1.0], [2.0]])
    soft = torch.softmax(torch.randn(6, 4) * 2, dim=1)
    return logits, {"y": y, "soft": soft}


def test_without_a_teacher_the_loss_is_the_configs_own():
    cfg = _cfg(teacher=None)
    assert not isinstance(_loss(cfg), Distillation)


def test_the_loss_mixes_labels_and_the_teachers_softened_probabilities():
    logits, batch = _batch()
    t, w = 2.0, 0.3
    out = _loss(_cfg(temperature=t, weight=w))({"logits": logits}, batch)
    ce = F.cross_entropy(logits, batch["y"][:, 0].long())
    teacher = torch.softmax(torch.log(batch["soft"]) / t, dim=1)
    kl = (teacher * (torch.log(teacher) - torch.log_softmax(logits / t, dim=1))).sum(1).mean() * t * t
    assert out["distil_loss"].item() == pytest.approx(kl.item(), rel=1e-5)
    assert out["ce_loss"].item() == pytest.approx(ce.item(), rel=1e-5)
    assert out["loss"].item() == pytest.approx(((1 - w) * ce + w * kl).item(), rel=1e-5)
    out["loss"].backward()
    assert logits.grad is not None


def test_validation_batches_are_judged_on_labels_alone():
    logits, batch = _batch()
    del batch["soft"]
    out = _loss(_cfg(weight=0.9))({"logits": logits}, batch)
    assert "distil_loss" not in out
    assert out["loss"].item() == pytest.approx(F.cross_entropy(logits, batch["y"][:, 0].long()).item(), rel=1e-5)


def test_the_distillation_loss_is_smallest_at_the_teachers_probabilities():
    _, batch = _batch()
    loss = _loss(_cfg(temperature=1.0, weight=1.0))
    at_teacher = loss({"logits": torch.log(batch["soft"])}, batch)["loss"]
    elsewhere = loss({"logits": torch.zeros(6, 4)}, batch)["loss"]
    assert at_teacher.item() == pytest.approx(0.0, abs=1e-5) and elsewhere.item() > 0.01


def test_sigmoid_and_regression_students():
    logits = torch.randn(5, 2)
    soft = torch.sigmoid(torch.randn(5, 2))
    out = _loss(_cfg("classification.BCEWithLogitsLoss", temperature=1.0))({"logits": logits}, {"y": torch.ones(5, 2), "soft": soft})
    assert out["distil_loss"].item() == pytest.approx(F.binary_cross_entropy_with_logits(logits, soft).item(), rel=1e-4)
    pred, target = torch.randn(5, 1), torch.randn(5, 1)
    out = _loss(_cfg("classification.MSELoss"))({"logits": pred}, {"y": torch.zeros(5, 1), "soft": target})
    assert out["distil_loss"].item() == pytest.approx(F.mse_loss(pred, target).item(), rel=1e-5)


@pytest.mark.parametrize("temperature, weight", [(0.0, 0.5), (2.0, 1.5), (-1.0, 0.2)])
def test_impossible_settings_are_refused(temperature, weight):
    with pytest.raises(SkpError, match="temperature must be above 0 and weight within"):
        _loss(_cfg(temperature=temperature, weight=weight))


class Items(torch.utils.data.Dataset):
    def __init__(self, ids):
        self.ids = ids

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"x": torch.zeros(1), "y": torch.tensor([0.0]), "index": i}


def _teacher(folder, fold, ids, width=3):
    folder.mkdir(exist_ok=True)
    values = np.arange(len(ids) * width, dtype=np.float32).reshape(len(ids), width)
    frame = pd.DataFrame(values, columns=[f"p{j}" for j in range(width)]).assign(id=ids)
    frame.sample(frac=1.0, random_state=0).to_csv(folder / f"fold{fold}.csv", index=False)  # any row order
    return dict(zip(ids, values))


def test_training_items_carry_the_teachers_row_for_their_id(tmp_path):
    by_id = _teacher(tmp_path / "teacher", 1, ["a", "b", "c", "d"])
    cfg = _cfg(teacher=str(tmp_path / "teacher"))
    cfg.fold = 1
    dataset = with_teacher(Items(["c", "a", "d"]), cfg)
    assert isinstance(dataset, TeacherTargets) and len(dataset) == 3 and dataset.ids == ["c", "a", "d"]
    for i, key in enumerate(["c", "a", "d"]):
        np.testing.assert_array_equal(dataset[i]["soft"].numpy(), by_id[key])
        assert dataset[i]["index"] == i


def test_a_missing_teacher_file_or_row_is_named(tmp_path):
    _teacher(tmp_path / "teacher", 0, ["a", "b"])
    cfg = _cfg(teacher=str(tmp_path / "teacher"))
    cfg.fold = 1
    with pytest.raises(SkpError, match="No teacher predictions for fold 1"):
        with_teacher(Items(["a"]), cfg)
    cfg.fold = 0
    with pytest.raises(SkpError, match="no teacher prediction for 1 of fold 0's training rows"):
        with_teacher(Items(["a", "z"]), cfg)


def test_mixup_mixes_the_teachers_probabilities_like_the_labels():
    from skp.tasks.classification import Task

    task = Task.__new__(Task)
    torch.nn.Module.__init__(task)
    cfg = Config()
    cfg.mixup, cfg.mixup_prob, cfg.num_classes = 1.0, 1.0, 3
    task.cfg, task._rng = cfg, np.random.default_rng(0)
    y = torch.tensor([[0.0], [1.0], [2.0], [1.0]])
    batch = {"x": torch.randn(4, 1, 2, 2), "y": y, "soft": F.one_hot(y[:, 0].long(), 3).float()}
    mixed = task.prepare_training_batch(batch)
    torch.testing.assert_close(mixed["soft"], mixed["y"])  # soft equal to the labels stays equal


def test_pseudo_labels_add_the_test_images_with_the_teachers_labels(boneage_dir, tmp_path):
    from skp.configs import load_config

    cfg = load_config("boneage.cfg_baseline", ["--data_dir", str(boneage_dir), "--pretrained", "False"])
    cfg.fold = 1
    train_ids = pd.read_csv(boneage_dir / "train_kfold.csv").pid.tolist()
    test_ids = pd.read_csv(boneage_dir / "test.csv").pid.tolist()
    folder = tmp_path / "teacher"
    folder.mkdir()
    pd.DataFrame({"pid": train_ids, "p0": np.arange(len(train_ids), dtype=float)}).to_csv(folder / "fold1.csv", index=False)
    pd.DataFrame({"pid": test_ids, "p0": 100.0 + np.arange(len(test_ids)), "y0": 200.0 + np.arange(len(test_ids))}).to_csv(folder / "fold1_test.csv", index=False)
    cfg.distil = {"teacher": str(folder), "temperature": 2.0, "weight": 0.5, "pseudo_labels": True}
    from skp.tasks.data import build_datasets

    train, _ = build_datasets(cfg)
    rows = len(train.train)
    assert len(train) == rows + len(test_ids) and train.ids[rows:] == test_ids
    item = train[rows + 2]
    assert item["soft"].item() == 102.0 and item["y"].item() == 202.0 and item["x"].shape == train[0]["x"].shape
    cfg.sampler = "WeightedSampler"
    with pytest.raises(SkpError, match="WeightedSampler"):
        build_datasets(cfg)
