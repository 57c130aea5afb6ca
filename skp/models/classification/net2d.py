"""timm backbone -> pooling (avg/max/GeM) -> dropout -> linear head.

Config: backbone, pretrained, num_input_channels, num_classes, pool, dropout,
normalization, and optionally metadata_embeddings {column: cardinality} with
metadata_embedding_dim: each column is embedded and concatenated to the pooled
features (e.g. sex for bone age).
"""

import torch
import torch.nn as nn

from skp.models.layers import make_pooling
from skp.toolbox.images import normalize
from skp.toolbox.timm_models import create_timm_model


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.normalization = cfg.normalization
        self.backbone = create_timm_model(cfg, num_classes=0, global_pool="")
        self.pooling = make_pooling(cfg.pool or "avg")
        self.metadata = nn.ModuleDict(
            {
                column: nn.Embedding(cardinality, cfg.metadata_embedding_dim or 32)
                for column, cardinality in (cfg.metadata_embeddings or {}).items()
            }
        )
        features = self.backbone.num_features + sum(e.embedding_dim for e in self.metadata.values())
        self.dropout = nn.Dropout(cfg.dropout or 0.0)
        self.head = nn.Linear(features, cfg.num_classes)

    def forward(self, batch: dict) -> dict:
        x = normalize(batch["x"], self.normalization)
        features = self.pooling(self.backbone(x)).flatten(1)
        if len(self.metadata):
            embedded = [embed(batch[column]) for column, embed in self.metadata.items()]
            features = torch.cat([features, *embedded], dim=1)
        return {"logits": self.head(self.dropout(features))}
