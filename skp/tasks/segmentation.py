"""Segmentation: logits (B, K, H, W). The OOF file keeps each sample's Dice per
class rather than full masks, which would not fit in a CSV."""

from skp.metrics.segmentation import hard_masks
from skp.tasks.base import BaseTask


class Task(BaseTask):
    def predictions(self, out: dict, batch: dict) -> dict:
        predicted, target = hard_masks(out["logits"].detach(), batch["y"])
        intersection = (predicted * target).sum((2, 3))
        total = predicted.sum((2, 3)) + target.sum((2, 3))
        return {"dice": (2 * intersection + 1e-6) / (total + 1e-6)}
