"""DICOM images listed in a CSV, as simple2d lists PNGs (pip install 'skp[medical]').

Each file's pixel data in modality units (CT in Hounsfield units, through the rescale
slope and intercept), under the windows of cfg.windows ([(centre, width), ...] one
channel each, "header" for the file's own window or VOI LUT, or "minmax"), MONOCHROME1
inverted so that bright means dense everywhere. Colour files (RGB, YBR, palette) are read
as they are, with cfg.windows = "header".

Multi-frame files: cfg.slice_column names the CSV column with each row's frame (from 0);
cfg.slice_context = k stacks frames f-k..f+k as channels (2.5D). Channels: windows x
(2k + 1), which cfg.num_input_channels must equal. cfg.cache_images: "memory", "disk" or "off"
(skp.datasets.stacks). Albumentations from cfg.train_transforms / cfg.val_transforms.
"""

import numpy as np
import torch

from skp.datasets.annotations import CsvImages
from skp.datasets.stacks import StackCache, slice_indices, with_context
from skp.errors import SkpError
from skp.toolbox.dicom import display_stack, read_dicom
from skp.toolbox.windows import check_windows


class Dataset(CsvImages):
    def __init__(self, cfg, mode: str):
        check_windows(cfg.windows)
        super().__init__(cfg, mode, extra_columns=(cfg.slice_column,))
        self.frames = slice_indices(cfg, self.frame)
        self.context = int(cfg.slice_context or 0)
        self.stacks = StackCache(cfg, self._read, {"reader": "dicom2d", "windows": cfg.windows})

    def _read(self, path: str) -> np.ndarray:
        return display_stack(read_dicom(path), self.cfg.windows, path)

    def image(self, i: int) -> torch.Tensor:
        path = self.paths[i]
        stack = self.stacks.get(path)
        if self.frames is None and stack.shape[0] > 1:
            raise SkpError(
                f"{path} holds {stack.shape[0]} frames; name each row's frame (from 0) in a CSV "
                f"column and set cfg.slice_column to it."
            )
        image = with_context(stack, 0 if self.frames is None else self.frames[i], self.context, path)
        if image.shape[-1] != (self.cfg.num_input_channels or 3):
            raise SkpError(
                f"{path} gives {image.shape[-1]} channel(s) (windows x (2 x cfg.slice_context + 1), or 3 "
                f"for a colour file) but cfg.num_input_channels is {self.cfg.num_input_channels}. "
                f"Make them agree."
            )
        return self.transformed(image)
