"""2D images and masks listed in a CSV: cfg.inputs and cfg.masks columns of paths.

Binary tasks (cfg.num_classes == 1) treat any non-zero mask pixel as foreground
and return "y" as float (1, H, W); multi-class masks hold class indices and
return "y" as long (H, W).
"""

import numpy as np
import torch

from skp.datasets.annotations import data_file, load_split
from skp.toolbox.images import read_image, read_mask


class Dataset(torch.utils.data.Dataset):
    def __init__(self, cfg, mode: str):
        self.cfg, self.mode = cfg, mode
        self.inference = mode == "inference"
        columns = [cfg.id_column, cfg.inputs] + ([] if self.inference else [cfg.masks, cfg.fold_column])
        self.frame = load_split(cfg, mode, columns)
        self.ids = self.frame[cfg.id_column].tolist()
        self.paths = [str(data_file(cfg, p)) for p in self.frame[cfg.inputs]]
        self.mask_paths = None if self.inference else [str(data_file(cfg, p)) for p in self.frame[cfg.masks]]
        self.transforms = cfg.train_transforms if mode == "train" else cfg.val_transforms
        self.channels = cfg.num_input_channels or 3
        self.binary = (cfg.num_classes or 1) == 1

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        image = read_image(self.paths[i], self.channels)
        mask = None if self.mask_paths is None else read_mask(self.mask_paths[i])
        if self.transforms is not None:
            out = self.transforms(image=image, **({} if mask is None else {"mask": mask}))
            image, mask = out["image"], out.get("mask", mask)
        item = {"x": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float(), "index": i}
        if mask is not None:
            mask = np.asarray(mask)
            item["y"] = (
                torch.from_numpy((mask > 0).astype(np.float32))[None]
                if self.binary
                else torch.from_numpy(mask.astype(np.int64))
            )
        return item
