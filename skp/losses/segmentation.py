"""Segmentation losses on out["logits"] (B, K, H, W) and batch["y"].

Binary tasks (K == 1) take a float mask (B, 1, H, W); multi-class tasks take
class indices (B, H, W).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


def _probabilities_and_onehot(logits, y):
    if logits.shape[1] == 1:
        return torch.sigmoid(logits), y.float().view_as(logits)
    onehot = F.one_hot(y.long(), logits.shape[1]).permute(0, 3, 1, 2).float()
    return logits.softmax(1), onehot


def soft_dice_loss(logits, y, smooth: float = 1.0):
    p, target = _probabilities_and_onehot(logits.float(), y)
    dims = (0, 2, 3)
    intersection = (p * target).sum(dims)
    dice = (2 * intersection + smooth) / (p.sum(dims) + target.sum(dims) + smooth)
    return 1 - dice.mean()


class DiceLoss(nn.Module):
    """Soft Dice over the batch, averaged over classes. Params: smooth (1.0)."""

    def __init__(self, cfg):
        super().__init__()
        self.smooth = dict(cfg.loss_params or {}).get("smooth", 1.0)

    def forward(self, out: dict, batch: dict) -> dict:
        loss = soft_dice_loss(out["logits"], batch["y"], self.smooth)
        return {"loss": loss, "dice_loss": loss.detach()}


class BCEDiceLoss(nn.Module):
    """bce_weight * (BCE or CE) + dice_weight * Dice. Params: bce_weight, dice_weight (1, 1), smooth."""

    def __init__(self, cfg):
        super().__init__()
        params = dict(cfg.loss_params or {})
        self.bce_weight = params.get("bce_weight", 1.0)
        self.dice_weight = params.get("dice_weight", 1.0)
        self.smooth = params.get("smooth", 1.0)

    def forward(self, out: dict, batch: dict) -> dict:
        logits, y = out["logits"].float(), batch["y"]
        if logits.shape[1] == 1:
            bce = F.binary_cross_entropy_with_logits(logits, y.float().view_as(logits))
        else:
            bce = F.cross_entropy(logits, y.long())
        dice = soft_dice_loss(logits, y, self.smooth)
        loss = self.bce_weight * bce + self.dice_weight * dice
        return {"loss": loss, "bce_loss": bce.detach(), "dice_loss": dice.detach()}
