"""Classification and regression losses on out["logits"] and batch["y"].

batch["y"] holds one column per target (float). Single-label multi-class losses
read the class index from its only column.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class _Loss(nn.Module):
    name = "loss"
    activation = None

    def __init__(self, cfg):
        super().__init__()
        self.params = dict(cfg.loss_params or {})

    def compute(self, logits, y):
        raise NotImplementedError

    def forward(self, out: dict, batch: dict) -> dict:
        loss = self.compute(out["logits"].float(), batch["y"])
        return {"loss": loss, f"{self.name}_loss": loss.detach()}


def _class_index(y):
    return y.view(-1).long() if y.ndim == 1 or y.shape[1] == 1 else y.argmax(1)


class CrossEntropyLoss(_Loss):
    """Multi-class CE; `y` is a class index or a (mixed) probability vector. Params: label_smoothing."""

    name = "ce"
    activation = "softmax"

    def compute(self, logits, y):
        target = _class_index(y) if y.ndim == 1 or y.shape[1] == 1 else y.float()
        return F.cross_entropy(logits, target, label_smoothing=self.params.get("label_smoothing", 0.0))


class BCEWithLogitsLoss(_Loss):
    """Binary / multi-label BCE. Params: pos_weight (list, one per target)."""

    name = "bce"
    activation = "sigmoid"

    def compute(self, logits, y):
        pos_weight = self.params.get("pos_weight")
        pos_weight = None if pos_weight is None else logits.new_tensor(pos_weight)
        return F.binary_cross_entropy_with_logits(logits, y.float().view_as(logits), pos_weight=pos_weight)


class FocalLoss(_Loss):
    """Sigmoid focal loss (Lin et al. 2017). Params: gamma (2.0), alpha (0.25, None = off)."""

    name = "focal"
    activation = "sigmoid"

    def compute(self, logits, y):
        y = y.float().view_as(logits)
        gamma, alpha = self.params.get("gamma", 2.0), self.params.get("alpha", 0.25)
        bce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
        p = torch.sigmoid(logits)
        p_t = p * y + (1 - p) * (1 - y)
        loss = bce * (1 - p_t) ** gamma
        if alpha is not None:
            loss = loss * (alpha * y + (1 - alpha) * (1 - y))
        return loss.mean()


class L1Loss(_Loss):
    name = "l1"

    def compute(self, logits, y):
        return F.l1_loss(logits, y.float().view_as(logits))


class MSELoss(_Loss):
    name = "mse"

    def compute(self, logits, y):
        return F.mse_loss(logits, y.float().view_as(logits))


class SmoothL1Loss(_Loss):
    """Params: beta (1.0)."""

    name = "smooth_l1"

    def compute(self, logits, y):
        return F.smooth_l1_loss(logits, y.float().view_as(logits), beta=self.params.get("beta", 1.0))
