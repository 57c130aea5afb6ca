"""U-Net: timm encoder (features_only) + a decoder that upsamples, concatenates the
skip connection of each stage and applies two conv-BN-ReLU blocks.

Config: backbone, pretrained, num_input_channels, num_classes,
decoder_channels (one per encoder stage, deepest first), normalization.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from skp.toolbox.images import normalize
from skp.toolbox.timm_models import create_timm_model


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    layers = []
    for c_in in (in_channels, out_channels):
        layers += [nn.Conv2d(c_in, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.normalization = cfg.normalization
        self.encoder = create_timm_model(cfg, features_only=True)
        encoder_channels = self.encoder.feature_info.channels()[::-1]  # deepest first
        decoder_channels = list(cfg.decoder_channels or [256, 128, 64, 32, 16])[: len(encoder_channels)]
        skips = encoder_channels[1:] + [0]  # the last block upsamples without a skip
        blocks, in_channels = [], encoder_channels[0]
        for out_channels, skip in zip(decoder_channels, skips):
            blocks.append(_conv_block(in_channels + skip, out_channels))
            in_channels = out_channels
        self.decoder = nn.ModuleList(blocks)
        self.head = nn.Conv2d(in_channels, cfg.num_classes, 1)

    def forward(self, batch: dict) -> dict:
        x = normalize(batch["x"], self.normalization)
        features = self.encoder(x)[::-1]
        y, skips = features[0], features[1:]
        for i, block in enumerate(self.decoder):
            if i < len(skips):
                y = F.interpolate(y, size=skips[i].shape[-2:], mode="nearest")
                y = torch.cat([y, skips[i]], dim=1)
            y = block(y)
        logits = F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return {"logits": logits}
