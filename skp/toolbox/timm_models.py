"""timm model creation with an offline-friendly error for pretrained weights."""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from urllib.parse import urlparse

import timm

from skp.errors import SkpError, did_you_mean

_DOWNLOAD_HELP = (
    "Either pass --pretrained False, or download the weights on a machine with network "
    "access into the Hugging Face cache (HF_HOME), copy it here and run with HF_HUB_OFFLINE=1."
)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check, so an offline machine fails in seconds, not after a minute of retries."""
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def check_backbone(cfg) -> None:
    """cfg.backbone is a timm model, and its pretrained weights can be fetched if asked for."""
    name = cfg.backbone
    if not name or not timm.is_model(name):
        raise SkpError(
            f"cfg.backbone {name!r} is not a timm model.{did_you_mean(str(name), timm.list_models())} "
            f"List them with `python -c \"import timm; print(timm.list_models('resnet*'))\"`."
        )
    if cfg.pretrained and os.environ.get("HF_HUB_OFFLINE", "0") in ("0", "") and not _hub_reachable():
        raise SkpError(
            f"cfg.pretrained is True but the Hugging Face hub cannot be reached to download "
            f"weights for {name!r}. {_DOWNLOAD_HELP}"
        )


@contextmanager
def pretrained_weights_errors(cfg):
    """Hub clients raise many types; with pretrained weights asked for, any error while
    building is reported as a failed download, in one paragraph."""
    try:
        yield
    except Exception as err:
        if not cfg.pretrained:
            raise
        raise SkpError(
            f"Could not load pretrained weights for {cfg.backbone!r} ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:200]}). {_DOWNLOAD_HELP}"
        ) from None


def create_timm_model(cfg, **kwargs):
    """`timm.create_model(cfg.backbone, pretrained=cfg.pretrained, ...)` with clear errors."""
    check_backbone(cfg)
    with pretrained_weights_errors(cfg):
        model = timm.create_model(cfg.backbone, pretrained=bool(cfg.pretrained), in_chans=cfg.num_input_channels or 3, **kwargs)
    if cfg.enable_gradient_checkpointing:
        model.set_grad_checkpointing(True)
    return model
