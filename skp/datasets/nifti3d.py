"""Whole NIfTI volumes (any format nibabel reads) as 3D inputs (pip install 'skp[medical]').

"x" is a float (C, D, H, W) tensor of 0-255 values: the volume reoriented to RAS+, with
D along cfg.slice_axis (default 2, axial), one channel per window of cfg.windows (as
for dicom2d and nifti), resized to cfg.volume_shape (D, H, W) by trilinear
interpolation. Training flips each axis listed in cfg.flip_axes (of D, H, W) with
probability 1/2 (e.g. [2] for left-right, never an axis the label depends on).
cfg.cache_images: "memory", "disk" or "off" (skp.datasets.stacks). Models: classification.net3d.
"""

from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from skp.datasets.annotations import CsvImages
from skp.datasets.stacks import AXIAL, StackCache, check_channels, volume_stack
from skp.errors import SkpError
from skp.toolbox.windows import check_windows, window_count


class Dataset(CsvImages):
    def __init__(self, cfg, mode: str):
        check_windows(cfg.windows)
        shape = cfg.volume_shape
        if not (isinstance(shape, (list, tuple)) and len(shape) == 3 and all(isinstance(s, int) and s > 0 for s in shape)):
            raise SkpError(f"cfg.volume_shape is {shape!r}; nifti3d resizes every volume to it: give (depth, height, width), e.g. (32, 64, 64).")
        flips = list(cfg.flip_axes or [])
        if any(a not in (0, 1, 2) for a in flips):
            raise SkpError(f"cfg.flip_axes is {cfg.flip_axes!r}; list axes of the (D, H, W) volume: 0, 1 or 2.")
        super().__init__(cfg, mode)
        if self.transforms is not None:
            raise SkpError(
                "nifti3d resizes volumes to cfg.volume_shape and flips them along cfg.flip_axes; "
                "albumentations transforms (cfg.train_transforms, cfg.val_transforms, skp-ensemble's "
                "TTA views) act on 2D images and cannot apply. Set both transforms to None and "
                "leave tta out of the recipe's 3D members."
            )
        check_channels(cfg, window_count(cfg.windows), f"cfg.windows {cfg.windows!r}")
        self.shape, self.flips = tuple(shape), flips if mode == "train" else []
        axis = AXIAL if cfg.slice_axis is None else cfg.slice_axis
        self.stacks = StackCache(cfg, partial(volume_stack, windows=cfg.windows, axis=axis), {"reader": "nifti3d", "windows": cfg.windows, "axis": axis})

    def image(self, i: int) -> torch.Tensor:
        stack = self.stacks.get(self.paths[i])  # (D, H, W, C), perhaps a read-only memory map
        volume = torch.from_numpy(stack.transpose(3, 0, 1, 2).astype(np.float32))
        volume = F.interpolate(volume[None], size=self.shape, mode="trilinear", align_corners=False)[0]
        flipped = [a + 1 for a in self.flips if np.random.random() < 0.5]  # np.random: seeded per item
        return volume.flip(flipped) if flipped else volume
