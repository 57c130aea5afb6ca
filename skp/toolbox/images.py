"""Image reading and normalization shared by datasets and models."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from skp.errors import SkpError

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALIZATIONS = ("0_1", "-1_1", "imagenet", "none")


def read_image(path: str, channels: int) -> np.ndarray:
    """HWC uint8 image with `channels` channels (1 = grayscale, 3 = RGB)."""
    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    image = cv2.imread(path, flag)
    if image is None:
        raise SkpError(
            f"Could not read image {path}: the file is missing, empty or not an image "
            f"OpenCV can decode. Check the annotations CSV and the data directory."
        )
    if channels == 1:
        return image[..., None]
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image if channels == 3 else np.repeat(image[..., :1], channels, axis=-1)


_decoded: dict[tuple[str, int], np.ndarray] = {}


def read_image_cached(path: str, channels: int) -> np.ndarray:
    """read_image, decoded once per process and kept in memory (cfg.cache_images).

    A tuning worker keeps the cache across its trials, so a small data set is decoded
    once per worker instead of once per epoch. Callers get a copy they may modify.
    """
    key = (path, channels)
    if key not in _decoded:
        _decoded[key] = read_image(path, channels)
    return _decoded[key].copy()


def read_mask(path: str) -> np.ndarray:
    mask = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise SkpError(f"Could not read mask {path}: missing or not an image file.")
    return mask


def normalize(x: torch.Tensor, method: str | None) -> torch.Tensor:
    """Scale a float batch of 0-255 pixel values as `method` says."""
    if method in (None, "none"):
        return x
    if method == "0_1":
        return x / 255.0
    if method == "-1_1":
        return x / 127.5 - 1.0
    if method == "imagenet":
        channels = x.shape[1]
        mean = x.new_tensor(_IMAGENET_MEAN[:channels] if channels <= 3 else [0.45] * channels)
        std = x.new_tensor(_IMAGENET_STD[:channels] if channels <= 3 else [0.226] * channels)
        shape = (1, -1) + (1,) * (x.ndim - 2)  # images (N, C, H, W) and volumes (N, C, D, H, W)
        return (x / 255.0 - mean.view(shape)) / std.view(shape)
    raise SkpError(f"Unknown cfg.normalization {method!r}; choose one of {NORMALIZATIONS}.")
