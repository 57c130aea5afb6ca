"""Building blocks shared by the model families."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from skp.errors import SkpError

POOLINGS = ("avg", "max", "gem")


class GeM(nn.Module):
    """Generalized-mean pooling (Radenovic et al.) with a learnable exponent."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6, dims: int = 2):
        super().__init__()
        self.p = nn.Parameter(torch.tensor(p))
        self.eps = eps
        self.average = F.adaptive_avg_pool2d if dims == 2 else F.adaptive_avg_pool3d

    def forward(self, x):
        return self.average(x.clamp(min=self.eps).pow(self.p), 1).pow(1.0 / self.p)


def make_pooling(name: str, dims: int = 2) -> nn.Module:
    """Global pooling over the 2 (images) or 3 (volumes) spatial dimensions."""
    if name == "avg":
        return nn.AdaptiveAvgPool2d(1) if dims == 2 else nn.AdaptiveAvgPool3d(1)
    if name == "max":
        return nn.AdaptiveMaxPool2d(1) if dims == 2 else nn.AdaptiveMaxPool3d(1)
    if name == "gem":
        return GeM(dims=dims)
    raise SkpError(f"Unknown cfg.pool {name!r}; choose one of {POOLINGS}.")
