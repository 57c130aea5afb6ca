"""2D images listed in a CSV (cfg.inputs column of paths under cfg.data_dir), with
targets (cfg.targets columns), folds (cfg.fold_column) and optional categorical
metadata (cfg.metadata_embeddings keys). Albumentations from cfg.train_transforms
or cfg.val_transforms. cfg.cache_images keeps decoded images in memory (small data sets).
"""

import numpy as np
import torch

from skp.datasets.annotations import common_columns, data_file, load_split
from skp.toolbox.images import read_image, read_image_cached


class Dataset(torch.utils.data.Dataset):
    def __init__(self, cfg, mode: str):
        self.cfg, self.mode = cfg, mode
        self.inference = mode == "inference"
        self.frame = load_split(cfg, mode, common_columns(cfg, self.inference))
        self.ids = self.frame[cfg.id_column].tolist()
        self.paths = [str(data_file(cfg, p)) for p in self.frame[cfg.inputs]]
        self.targets = None if self.inference else self.frame[cfg.targets].to_numpy(np.float32, copy=True)
        self.metadata = {c: self.frame[c].to_numpy(np.int64) for c in cfg.metadata_embeddings or {}}
        self.transforms = cfg.train_transforms if mode == "train" else cfg.val_transforms
        self.channels = cfg.num_input_channels or 3
        self.read = read_image_cached if cfg.cache_images else read_image

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        image = self.read(self.paths[i], self.channels)
        if self.transforms is not None:
            image = self.transforms(image=image)["image"]
        item = {"x": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float(), "index": i}
        for column, values in self.metadata.items():
            item[column] = torch.tensor(values[i])
        if self.targets is not None:
            item["y"] = torch.from_numpy(self.targets[i])
        return item
