"""Segmentation architectures of segmentation_models_pytorch (smp) over timm encoders.

Each architecture is a name (`segmentation.unet`, `segmentation.fpn`, ...), a module whose
`Net` sets `architecture` to the smp class. Config: backbone (any timm model: smp's
"tu-" encoders), pretrained, num_input_channels, num_classes, normalization;
decoder_channels, when set, is the architecture's `decoder_channels`; model_params passes
any other argument of the smp class (encoder_depth, decoder_attention_type, ...).

Inputs of any size: they are padded to a multiple of the encoder's output stride (smp
refuses others) and the logits cropped back, so masks keep the input's size.
"""

import inspect

import segmentation_models_pytorch as smp
import torch.nn as nn
import torch.nn.functional as F

from skp.errors import SkpError
from skp.toolbox.images import normalize
from skp.toolbox.timm_models import check_backbone, pretrained_weights_errors

SET_BY_SKP = ("encoder_name", "encoder_weights", "in_channels", "classes", "activation")


def architecture_arguments(cfg, architecture: str) -> dict:
    """The smp constructor's keyword arguments from cfg.decoder_channels and cfg.model_params."""
    accepted = [p for p in inspect.signature(getattr(smp, architecture).__init__).parameters if p not in ("self", "kwargs")]
    arguments = dict(cfg.model_params or {})
    if cfg.decoder_channels is not None:
        arguments["decoder_channels"] = cfg.decoder_channels
    reserved = sorted(set(arguments) & set(SET_BY_SKP))
    unknown = sorted(set(arguments) - set(accepted))
    if reserved or unknown:
        what = f"sets {reserved}, which skp sets from the config" if reserved else f"has {unknown}, which smp.{architecture} does not take"
        options = [p for p in accepted if p not in SET_BY_SKP]
        raise SkpError(
            f"{cfg.config_name}: the model's arguments (cfg.decoder_channels and cfg.model_params) {what}. "
            f"smp.{architecture} takes {options}; the encoder is cfg.backbone, its weights cfg.pretrained, "
            f"the channels cfg.num_input_channels and cfg.num_classes."
        )
    return arguments


class SmpNet(nn.Module):
    architecture: str  # the smp class, set by each architecture's Net

    def __init__(self, cfg):
        super().__init__()
        check_backbone(cfg)
        arguments = architecture_arguments(cfg, self.architecture)
        self.normalization = cfg.normalization
        with pretrained_weights_errors(cfg):
            self.model = getattr(smp, self.architecture)(
                encoder_name=f"tu-{cfg.backbone}",
                encoder_weights=True if cfg.pretrained else None,
                in_channels=cfg.num_input_channels or 3,
                classes=cfg.num_classes,
                **arguments,
            )
        if cfg.enable_gradient_checkpointing:
            self.model.encoder.model.set_grad_checkpointing(True)
        self.stride = self.model.encoder.output_stride

    def forward(self, batch: dict) -> dict:
        x = normalize(batch["x"], self.normalization)
        height, width = x.shape[-2:]
        pad_height, pad_width = -height % self.stride, -width % self.stride
        if pad_height or pad_width:
            x = F.pad(x, (0, pad_width, 0, pad_height))
        return {"logits": self.model(x)[..., :height, :width]}
