"""Training a student against a teacher's predictions (knowledge distillation).

`cfg.distil["teacher"]` names a folder that skp-ensemble --distil writes: `fold<k>.csv`
holds, for every training row, what the teacher predicts (probabilities, or values for
regression). Fold k's training items then carry them as "soft", and the loss becomes

    (1 - weight) * the config's loss on the labels + weight * the distillation loss

where the distillation loss is Hinton et al.'s: KL divergence between the teacher's and
the student's softmax at `temperature` (scaled by temperature^2 so that its gradients keep
their size), binary cross-entropy per output for sigmoid losses, and squared error for
regression. Validation items carry no "soft": the student is judged on labels alone.

With `pseudo_labels`, the test images (cfg.inference_annotations_file, under the training
transforms) join fold k's training rows: `fold<k>_test.csv` holds the teacher's
predictions ("soft") and the labels they imply ("y": the likeliest class, the outputs
above 0.5, or the values themselves for regression).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from skp.errors import SkpError

EPSILON = 1e-7  # teacher probabilities of exactly 0 or 1 have no finite logit


def teacher_folder(cfg) -> Path | None:
    teacher = (cfg.distil or {}).get("teacher")
    return None if teacher is None else Path(teacher)


def teacher_file(folder: Path, fold: int, test: bool = False) -> Path:
    return folder / (f"fold{fold}_test.csv" if test else f"fold{fold}.csv")


def read_teacher(folder: Path, fold: int, id_column: str, ids: list, test: bool = False, columns: str = "p") -> np.ndarray:
    """The teacher's predictions (or with columns="y" its labels) for `ids`, in their
    order: (N, K) float32."""
    path = teacher_file(folder, fold, test)
    if not path.is_file():
        raise SkpError(
            f"No teacher predictions for fold {fold}: {path} does not exist. skp-ensemble --distil "
            f"writes them before it trains the student; run it again, or clear --distil.teacher."
        )
    frame = pd.read_csv(path).set_index(id_column)
    missing = pd.Index(ids).difference(frame.index)
    if len(missing):
        rows, file = ("the test images", "inference_annotations_file") if test else (f"fold {fold}'s training rows", "annotations_file")
        raise SkpError(
            f"{path} has no teacher prediction for {len(missing)} of {rows} (ids {list(missing[:5])}...). "
            f"The student must train on the images its teacher predicted: give it the same data_dir and "
            f"{file} as the teacher's members."
        )
    wanted = [c for c in frame.columns if c[:1] == columns and c[1:].isdigit()]
    return frame.loc[ids, wanted].to_numpy(np.float32, copy=True)


class TeacherTargets(torch.utils.data.Dataset):
    """A training dataset whose items also carry the teacher's predictions as "soft"."""

    def __init__(self, dataset, cfg):
        self.dataset = dataset
        self.soft = read_teacher(teacher_folder(cfg), cfg.fold, cfg.id_column, list(dataset.ids))

    def __len__(self):
        return len(self.dataset)

    def __getattr__(self, name):  # samplers and seeding read the dataset's own attributes
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, i):
        return {**self.dataset[i], "soft": torch.from_numpy(self.soft[i])}


class PseudoLabelled(torch.utils.data.Dataset):
    """Fold k's training rows with the teacher's predictions, then the test images with
    the teacher's predictions and labels, under the training transforms."""

    def __init__(self, train, cfg):
        from skp.registry import resolve

        if cfg.sampler == "WeightedSampler":
            raise SkpError(
                "Pseudo-labels add the test images to the training rows, which a WeightedSampler's "
                "weights column does not cover. Drop one of the two (cfg.sampler or pseudo_labels)."
            )
        test_cfg = cfg.copy()
        test_cfg.val_transforms = cfg.train_transforms  # test images train as training rows do
        self.train, self.test = train, resolve("datasets", cfg.dataset)(test_cfg, "inference")
        folder, ids = teacher_folder(cfg), list(self.test.ids)
        self.soft = read_teacher(folder, cfg.fold, cfg.id_column, ids, test=True)
        self.labels = read_teacher(folder, cfg.fold, cfg.id_column, ids, test=True, columns="y")
        self.ids = list(train.ids) + ids

    def __len__(self):
        return len(self.train) + len(self.test)

    def __getitem__(self, i):
        if i < len(self.train):
            return self.train[i]
        j = i - len(self.train)
        return {**self.test[j], "y": torch.from_numpy(self.labels[j]), "soft": torch.from_numpy(self.soft[j])}


def with_teacher(dataset, cfg):
    if teacher_folder(cfg) is None:
        return dataset
    taught = TeacherTargets(dataset, cfg)
    return PseudoLabelled(taught, cfg) if cfg.distil.get("pseudo_labels") else taught


def _logit(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(EPSILON, 1 - EPSILON)
    return torch.log(p) - torch.log1p(-p)


class Distillation(nn.Module):
    """The config's loss mixed with the distillation loss on batches that carry "soft"."""

    def __init__(self, loss: nn.Module, cfg):
        super().__init__()
        if cfg.task == "segmentation":
            raise SkpError(
                "Distillation trains classification and regression students; segmentation students "
                "(per-pixel teacher maps) are not supported. Clear --distil.teacher."
            )
        settings = cfg.distil or {}
        self.loss, self.activation = loss, loss.activation
        self.temperature, self.weight = float(settings.get("temperature", 2.0)), float(settings.get("weight", 0.5))
        if self.temperature <= 0 or not 0 <= self.weight <= 1:
            raise SkpError(
                f"distil temperature must be above 0 and weight within [0, 1]; got temperature "
                f"{self.temperature} and weight {self.weight}."
            )

    def distillation_loss(self, logits: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
        t = self.temperature
        if self.activation == "softmax":
            teacher = F.log_softmax(torch.log(soft.clamp_min(EPSILON)) / t, dim=1)
            student = F.log_softmax(logits / t, dim=1)
            return F.kl_div(student, teacher, reduction="batchmean", log_target=True) * t * t
        if self.activation == "sigmoid":
            teacher = torch.sigmoid(_logit(soft) / t)
            return F.binary_cross_entropy_with_logits(logits / t, teacher) * t * t
        return F.mse_loss(logits, soft.view_as(logits))

    def forward(self, out: dict, batch: dict) -> dict:
        losses = self.loss(out, batch)
        if "soft" not in batch:
            return losses
        distil = self.distillation_loss(out["logits"].float(), batch["soft"].float())
        return {
            **losses,
            "loss": (1 - self.weight) * losses["loss"] + self.weight * distil,
            "distil_loss": distil.detach(),
        }


def with_distillation(loss: nn.Module, cfg) -> nn.Module:
    return loss if teacher_folder(cfg) is None else Distillation(loss, cfg)
