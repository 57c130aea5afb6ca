"""Segmentation losses on out["logits"] (B, K, H, W) and batch["y"], built on
segmentation_models_pytorch.losses.

Binary tasks (K == 1) take a float mask (B, 1, H, W); multi-class tasks take class
indices (B, H, W). The smp mode ("binary" or "multiclass") follows K.

    DiceLoss, JaccardLoss, TverskyLoss, FocalLoss, LovaszLoss
        one smp loss; cfg.loss_params are its options (e.g. {"smooth": 1.0},
        {"alpha": 0.3, "beta": 0.7}, {"per_image": True})
    ComboLoss
        a weighted sum of parts: cfg.loss_params = {"bce": 1.0, "lovasz": 0.5, ...}
        (bce is BCE for K == 1, cross-entropy otherwise), each part's options under
        "<part>_params", e.g. {"dice": 1.0, "dice_params": {"log_loss": True}}
    BCEDiceLoss
        ComboLoss of bce and dice: bce_weight, dice_weight (1, 1), smooth (1.0)

Every loss returns "loss" and one "<part>_loss" per part. Dice's smooth defaults to 1.0,
as skp's own Dice did (smp's default is 0); smp adds it to both halves of the fraction,
and a class without a true pixel in the batch adds nothing to the loss.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from segmentation_models_pytorch import losses as smp_losses

from skp.errors import SkpError

SMP_PARTS = {
    "dice": smp_losses.DiceLoss,
    "jaccard": smp_losses.JaccardLoss,
    "tversky": smp_losses.TverskyLoss,
    "focal": smp_losses.FocalLoss,
    "lovasz": smp_losses.LovaszLoss,
}
PARTS = ("bce", *SMP_PARTS)
DEFAULTS = {"dice": {"smooth": 1.0}}


def _mode(logits: torch.Tensor) -> str:
    return "binary" if logits.shape[1] == 1 else "multiclass"


def _cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if logits.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(logits, y.float().view_as(logits))
    return F.cross_entropy(logits, y.long())


class _Part:
    """One named loss; the smp object is built on the first batch, when K is known."""

    def __init__(self, name: str, options: dict):
        self.name, self.options, self._built = name, dict(options), {}
        if name == "bce" and self.options:
            raise SkpError(f"The segmentation loss part 'bce' takes no options, got {self.options}; weigh it with its weight.")
        if name in SMP_PARTS:
            self._build("binary")  # unknown options fail when the config loads, not mid-training

    def _build(self, mode: str):
        if mode not in self._built:
            try:
                self._built[mode] = SMP_PARTS[self.name](mode=mode, **{**DEFAULTS.get(self.name, {}), **self.options})
            except TypeError as err:
                raise SkpError(f"The segmentation loss part {self.name!r} got options {self.options}: {err}.") from None
        return self._built[mode]

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.name == "bce":
            return _cross_entropy(logits, y)
        target = y.long() if _mode(logits) == "multiclass" else y.float().view_as(logits)
        return self._build(_mode(logits))(logits, target)


class _WeightedParts(nn.Module):
    def __init__(self, weights: dict, options: dict):
        super().__init__()
        unknown = sorted(set(weights) - set(PARTS))
        if unknown or not weights:
            raise SkpError(f"Segmentation loss parts {unknown or '(none)'}: the parts are {list(PARTS)}, e.g. loss_params={{'bce': 1.0, 'dice': 1.0}}.")
        self.weights = dict(weights)
        self.parts = {name: _Part(name, options.get(name, {})) for name in self.weights}

    def forward(self, out: dict, batch: dict) -> dict:
        logits, y = out["logits"].float(), batch["y"]
        values = {name: part(logits, y) for name, part in self.parts.items()}
        loss = sum(self.weights[name] * value for name, value in values.items())
        return {"loss": loss, **{f"{name}_loss": value.detach() for name, value in values.items()}}


class ComboLoss(_WeightedParts):
    """Weighted parts from cfg.loss_params: {"bce": 1.0, "dice": 1.0, "dice_params": {...}}."""

    def __init__(self, cfg):
        params = dict(cfg.loss_params or {"bce": 1.0, "dice": 1.0})
        weights = {k: v for k, v in params.items() if not k.endswith("_params")}
        options = {k[: -len("_params")]: v for k, v in params.items() if k.endswith("_params")}
        super().__init__(weights, options)


class BCEDiceLoss(_WeightedParts):
    """bce_weight * (BCE or CE) + dice_weight * Dice. Params: bce_weight, dice_weight (1, 1), smooth (1.0)."""

    def __init__(self, cfg):
        params = dict(cfg.loss_params or {})
        weights = {"bce": params.get("bce_weight", 1.0), "dice": params.get("dice_weight", 1.0)}
        super().__init__(weights, {"dice": {"smooth": params.get("smooth", 1.0)}})


class _SinglePart(_WeightedParts):
    part: str

    def __init__(self, cfg):
        super().__init__({self.part: 1.0}, {self.part: dict(cfg.loss_params or {})})


class DiceLoss(_SinglePart):
    """Soft Dice over the batch, averaged over classes. Params: smooth (1.0), log_loss, classes, ignore_index."""

    part = "dice"


class JaccardLoss(_SinglePart):
    """Soft Jaccard (IoU) loss. Params: smooth, log_loss, classes, ignore_index."""

    part = "jaccard"


class TverskyLoss(_SinglePart):
    """Tversky loss: alpha weighs false positives, beta false negatives (0.5, 0.5); gamma > 1 is focal Tversky."""

    part = "tversky"


class FocalLoss(_SinglePart):
    """Focal loss per pixel. Params: gamma (2.0), alpha, normalized, reduced_threshold, ignore_index."""

    part = "focal"


class LovaszLoss(_SinglePart):
    """Lovasz hinge (binary) or Lovasz-softmax (multi-class), a surrogate of IoU. Params: per_image, ignore_index."""

    part = "lovasz"
