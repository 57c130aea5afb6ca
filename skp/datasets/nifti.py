"""Slices of NIfTI volumes (any format nibabel reads) as 2D images, 2.5D
(pip install 'skp[medical]').

Each CSV row names a volume (cfg.inputs) and a slice (cfg.slice_column, from 0) along
cfg.slice_axis of the volume reoriented to RAS+ (0 sagittal, 1 coronal, 2 axial; default
2), so slice indices mean the same anatomy whatever order the scanner stored. Windows
from cfg.windows as for dicom2d ("header" is the file's cal_min/cal_max display range);
cfg.slice_context = k stacks slices s-k..s+k as channels: windows x (2k + 1) channels.
A volume is decoded once per process (cfg.cache_images = "memory") or per machine ("disk"),
not once per slice. Albumentations from cfg.train_transforms / cfg.val_transforms.
"""

from functools import partial

import torch

from skp.datasets.annotations import CsvImages
from skp.datasets.stacks import AXIAL, StackCache, check_channels, slice_indices, volume_stack, with_context
from skp.errors import SkpError
from skp.toolbox.windows import check_windows, window_count


class Dataset(CsvImages):
    def __init__(self, cfg, mode: str):
        check_windows(cfg.windows)
        if not cfg.slice_column:
            raise SkpError("The nifti dataset serves slices: set cfg.slice_column to the CSV column holding each row's slice index (from 0).")
        super().__init__(cfg, mode, extra_columns=(cfg.slice_column,))
        self.slices = slice_indices(cfg, self.frame)
        self.context = int(cfg.slice_context or 0)
        axis = AXIAL if cfg.slice_axis is None else cfg.slice_axis
        check_channels(cfg, window_count(cfg.windows) * (2 * self.context + 1), f"cfg.windows {cfg.windows!r} with cfg.slice_context {self.context}")
        self.stacks = StackCache(cfg, partial(volume_stack, windows=cfg.windows, axis=axis), {"reader": "nifti", "windows": cfg.windows, "axis": axis})

    def image(self, i: int) -> torch.Tensor:
        return self.transformed(with_context(self.stacks.get(self.paths[i]), self.slices[i], self.context, self.paths[i]))
