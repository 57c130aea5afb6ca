"""A timm 2D backbone inflated to 3D -> pooling -> dropout -> linear head, for volumes.

Takes "x" as (N, C, D, H, W) 0-255 values (the nifti3d dataset). Config as net2d:
backbone (a timm ResNet; skp.models.inflate says which), pretrained (2D ImageNet weights
inflated, I3D-style), num_input_channels, num_classes, pool, dropout, normalization.

Why inflation rather than a 3D network from MONAI: the same backbone names and weights
as the 2D models, no extra dependency, and a pretrained start, which the small data sets
of medical competitions need more than a 3D design trained from scratch.
"""

import torch.nn as nn

from skp.models.inflate import inflate
from skp.models.layers import make_pooling
from skp.toolbox.images import normalize
from skp.toolbox.timm_models import create_timm_model


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.normalization = cfg.normalization
        self.backbone = inflate(create_timm_model(cfg, num_classes=0, global_pool=""), cfg.backbone)
        self.pooling = make_pooling(cfg.pool or "avg", dims=3)
        self.dropout = nn.Dropout(cfg.dropout or 0.0)
        self.head = nn.Linear(self.backbone.num_features, cfg.num_classes)

    def forward(self, batch: dict) -> dict:
        x = normalize(batch["x"], self.normalization)
        features = self.pooling(self.backbone.forward_features(x)).flatten(1)
        return {"logits": self.head(self.dropout(features))}
