"""A metric that keeps every logit and target of the epoch (validation sets fit in memory)."""

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat


class CollectingMetric(Metric):
    full_state_update = False

    def __init__(self, cfg):
        super().__init__()
        self.num_classes = cfg.num_classes
        self.add_state("logits", default=[], dist_reduce_fx="cat")
        self.add_state("targets", default=[], dist_reduce_fx="cat")

    def update(self, out: dict, batch: dict) -> None:
        self.logits.append(out["logits"].detach().float())
        self.targets.append(batch["y"].detach().float())

    def collected(self) -> tuple[torch.Tensor, torch.Tensor]:
        return dim_zero_cat(self.logits), dim_zero_cat(self.targets)
