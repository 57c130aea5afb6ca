"""Segmentation metrics on out["logits"] (B, K, H, W) and masks batch["y"]."""

import torch
import torch.nn.functional as F
from torchmetrics import Metric


def hard_masks(logits, y):
    """Predicted and true one-hot masks (B, K, H, W) as floats."""
    if logits.shape[1] == 1:
        return (logits > 0).float(), y.float().view_as(logits)
    k = logits.shape[1]
    predicted = F.one_hot(logits.argmax(1), k).permute(0, 3, 1, 2).float()
    return predicted, F.one_hot(y.long(), k).permute(0, 3, 1, 2).float()


class Dice(Metric):
    """Dice over the whole validation set per class, averaged over classes."""

    full_state_update = False

    def __init__(self, cfg):
        super().__init__()
        k = cfg.num_classes or 1
        self.add_state("intersection", default=torch.zeros(k), dist_reduce_fx="sum")
        self.add_state("total", default=torch.zeros(k), dist_reduce_fx="sum")

    def update(self, out: dict, batch: dict) -> None:
        predicted, target = hard_masks(out["logits"].detach(), batch["y"])
        self.intersection += (predicted * target).sum((0, 2, 3))
        self.total += predicted.sum((0, 2, 3)) + target.sum((0, 2, 3))

    def compute(self):
        dice = (2 * self.intersection + 1e-6) / (self.total + 1e-6)
        return {"dice": dice.mean()}
