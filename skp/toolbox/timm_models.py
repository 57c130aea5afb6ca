"""timm model creation with an offline-friendly error for pretrained weights."""

from __future__ import annotations

import timm

from skp.errors import SkpError, did_you_mean


def create_timm_model(cfg, **kwargs):
    """`timm.create_model(cfg.backbone, pretrained=cfg.pretrained, ...)` with clear errors."""
    name = cfg.backbone
    if not name or not timm.is_model(name):
        raise SkpError(
            f"cfg.backbone {name!r} is not a timm model.{did_you_mean(str(name), timm.list_models())} "
            f"List them with `python -c \"import timm; print(timm.list_models('resnet*'))\"`."
        )
    pretrained = bool(cfg.pretrained)
    try:
        model = timm.create_model(
            name, pretrained=pretrained, in_chans=cfg.num_input_channels or 3, **kwargs
        )
    except Exception as err:  # hub clients raise many types; only pretrained loading gets here
        if not pretrained:
            raise
        raise SkpError(
            f"Could not load pretrained weights for {name!r} ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:200]}). This machine may have no network access. "
            f"Either pass --pretrained False, or put the weights in the Hugging Face cache "
            f"on a machine that can download them (HF_HOME) and run with HF_HUB_OFFLINE=1."
        ) from None
    if cfg.enable_gradient_checkpointing:
        model.set_grad_checkpointing(True)
    return model
