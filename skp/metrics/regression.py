"""Regression metrics on out["logits"] (B, T) against batch["y"] (B, T), averaged over targets."""

from skp.metrics.base import CollectingMetric


class MAE(CollectingMetric):
    def compute(self):
        logits, targets = self.collected()
        return {"mae": (logits - targets.view_as(logits)).abs().mean()}


class MSE(CollectingMetric):
    def compute(self):
        logits, targets = self.collected()
        return {"mse": ((logits - targets.view_as(logits)) ** 2).mean()}
