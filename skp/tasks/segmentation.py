"""Segmentation: logits (B, K, H, W); one sigmoid channel for binary masks, a softmax
over K classes otherwise.

A fold keeps, at its best epoch, each validation sample's Dice per class in oof.csv and
its probability maps in oof_masks.npy (uint8, probability x 255, row i of oof.csv is
entry i), at the model's output resolution: that is where the masks it was scored on
live, and one array shape serves every image, so blends and thresholds are fitted on a
memory-mapped file instead of one resized mask per image in RAM. Submissions resize
back to each image's own size at the end.
"""

import torch

from skp.metrics.segmentation import hard_masks
from skp.tasks.base import BaseTask, activate
from skp.toolbox.masks import QUANTUM


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    return activate(logits, "sigmoid" if logits.shape[1] == 1 else "softmax")


class Task(BaseTask):
    def predictions(self, out: dict, batch: dict) -> dict:
        predicted, target = hard_masks(out["logits"].detach(), batch["y"])
        intersection = (predicted * target).sum((2, 3))
        total = predicted.sum((2, 3)) + target.sum((2, 3))
        return {"dice": (2 * intersection + 1e-6) / (total + 1e-6)}

    def dense_predictions(self, out: dict, batch: dict) -> torch.Tensor | None:
        if not self.cfg.save_oof_masks:
            return None
        return (probabilities(out["logits"].detach().float()) * QUANTUM).round().to(torch.uint8)
