"""2D images listed in a CSV (cfg.inputs column of paths under cfg.data_dir), with
targets (cfg.targets columns), folds (cfg.fold_column) and optional categorical
metadata (cfg.metadata_embeddings keys). Albumentations from cfg.train_transforms
or cfg.val_transforms. cfg.cache_images keeps decoded images in memory (small data sets).
"""

from skp.datasets.annotations import CsvImages
from skp.toolbox.images import read_image, read_image_cached


class Dataset(CsvImages):
    def __init__(self, cfg, mode: str):
        super().__init__(cfg, mode)
        self.channels = cfg.num_input_channels or 3
        self.read = read_image_cached if cfg.cache_images else read_image

    def image(self, i):
        return self.transformed(self.read(self.paths[i], self.channels))
