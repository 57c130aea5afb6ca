"""A 2D timm CNN turned into a 3D one by inflating its layers (Carreira & Zisserman's I3D).

Every k x k convolution becomes k x k x k with the 2D kernel repeated along depth and
divided by k, so a volume whose slices are all the same image gives the 2D network's
activations (away from the depth borders): ImageNet weights, when there are any, carry
over. Batch norm, max and average pooling become their 3D versions with the same state.
Only networks whose every module is on the list below are inflated: a module outside it
may hold 2D arithmetic in its forward (squeeze-excitation's mean over (2, 3)) that would
run on a 5D tensor without error and compute nonsense.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from skp.errors import SkpError

SUPPORTED_FAMILIES = "timm ResNets without attention: resnet10t, resnet14t, resnet18, resnet18d, resnet26, resnet34, resnet50, resnet50d, ..."


def _conv(layer: nn.Conv2d) -> nn.Conv3d:
    depth = layer.kernel_size[0]
    conv = nn.Conv3d(
        layer.in_channels,
        layer.out_channels,
        (depth, *layer.kernel_size),
        stride=(layer.stride[0], *layer.stride),
        padding=(layer.padding[0], *layer.padding),
        dilation=(layer.dilation[0], *layer.dilation),
        groups=layer.groups,
        bias=layer.bias is not None,
    )
    with torch.no_grad():
        conv.weight.copy_(layer.weight.unsqueeze(2).repeat(1, 1, depth, 1, 1) / depth)
        if layer.bias is not None:
            conv.bias.copy_(layer.bias)
    return conv


def _batch_norm(layer: nn.BatchNorm2d) -> nn.BatchNorm3d:
    norm = nn.BatchNorm3d(layer.num_features, layer.eps, layer.momentum, layer.affine, layer.track_running_stats)
    norm.load_state_dict(layer.state_dict())
    return norm


def _triple(value):
    return (value,) * 3 if isinstance(value, int) else (value[0], *value)


def _max_pool(layer: nn.MaxPool2d) -> nn.MaxPool3d:
    return nn.MaxPool3d(_triple(layer.kernel_size), _triple(layer.stride), _triple(layer.padding), _triple(layer.dilation), ceil_mode=layer.ceil_mode)


def _avg_pool(layer: nn.AvgPool2d) -> nn.AvgPool3d:
    return nn.AvgPool3d(_triple(layer.kernel_size), _triple(layer.stride), _triple(layer.padding), ceil_mode=layer.ceil_mode, count_include_pad=layer.count_include_pad)


# Exact types: a subclass (timm's Conv2dSame, BatchNormAct2d) has a forward of its own.
INFLATE = {nn.Conv2d: _conv, nn.BatchNorm2d: _batch_norm, nn.MaxPool2d: _max_pool, nn.AvgPool2d: _avg_pool}


def _dimension_free(module: nn.Module) -> bool:
    """Whether the module's forward only calls its children and element-wise operations."""
    from timm.layers import SelectAdaptivePool2d
    from timm.models.resnet import BasicBlock, Bottleneck, ResNet

    if isinstance(module, SelectAdaptivePool2d):
        return module.is_identity()  # the head's pool of a backbone built with global_pool=""
    return type(module) in (nn.Sequential, nn.Identity, nn.ReLU, nn.SiLU, nn.GELU, nn.Dropout, ResNet, BasicBlock, Bottleneck)


def inflate(network: nn.Module, name: str) -> nn.Module:
    """`network` with its 2D layers replaced by inflated 3D ones (in place; also returned)."""
    unsupported = sorted({type(m).__name__ for m in network.modules() if type(m) not in INFLATE and not _dimension_free(m)})
    if unsupported:
        raise SkpError(
            f"cfg.backbone {name!r} cannot be inflated to 3D: its modules {unsupported} may compute "
            f"in 2D inside their forward. classification.net3d inflates {SUPPORTED_FAMILIES}"
        )
    _replace(network)
    return network


def _replace(module: nn.Module) -> None:
    for child_name, child in module.named_children():
        build = INFLATE.get(type(child))
        if build is not None:
            setattr(module, child_name, build(child))
        else:
            _replace(child)
