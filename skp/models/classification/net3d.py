"""A timm 2D backbone inflated to 3D -> pooling -> dropout -> linear head, for volumes.

Takes "x" as (N, C, D, H, W) 0-255 values (the nifti3d dataset). Config as net2d:
backbone (a timm ResNet; skp.models.inflate says which), pretrained (2D ImageNet weights
inflated, I3D-style), num_input_channels, num_classes, pool, dropout, normalization.

Why inflation rather than a 3D network from MONAI: the same backbone names and weights
as the 2D models, no extra dependency, and a pretrained start, which the small data sets
of medical competitions need more than a 3D design trained from scratch.
"""

import torch.nn as nn

from skp.errors import SkpError
from skp.models.inflate import inflate
from skp.models.layers import make_pooling
from skp.toolbox.images import normalize
from skp.toolbox.timm_models import create_timm_model


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.normalization, self.backbone_name = cfg.normalization, cfg.backbone
        self.backbone = inflate(create_timm_model(cfg, num_classes=0, global_pool=""), cfg.backbone)
        self.pooling = make_pooling(cfg.pool or "avg", dims=3)
        self.dropout = nn.Dropout(cfg.dropout or 0.0)
        self.head = nn.Linear(self.backbone.num_features, cfg.num_classes)

    def forward(self, batch: dict) -> dict:
        x = normalize(batch["x"], self.normalization)
        try:
            features = self.backbone.forward_features(x)
        except RuntimeError as err:
            if "smaller than kernel size" not in str(err):
                raise
            raise SkpError(
                f"A volume of shape {tuple(x.shape[2:])} is too small for {self.backbone_name}: a "
                f"ResNet halves each axis 5 times. Give cfg.volume_shape 32 or more along each axis."
            ) from None
        return {"logits": self.head(self.dropout(self.pooling(features).flatten(1)))}
