"""RSNA Pediatric Bone Age: regress age in months from a hand radiograph and sex.

Expects $SKP_DATA_DIR/boneage (or --data_dir) holding train_kfold.csv with columns
pid, filename (image path relative to the folder), bone_age (months), male (0/1),
fold; and test.csv with pid, filename, male.
"""

import albumentations as A

from skp.configs import Config
from skp.toolbox.paths import data_path

cfg = Config()

cfg.task = "classification"
cfg.model = "classification.net2d"
cfg.backbone = "tf_efficientnetv2_s"
cfg.pretrained = True
cfg.num_input_channels = 1
cfg.num_classes = 1
cfg.pool = "gem"
cfg.dropout = 0.2
cfg.normalization = "-1_1"
cfg.metadata_embeddings = {"male": 2}
cfg.metadata_embedding_dim = 32

cfg.dataset = "simple2d"
cfg.data_dir = data_path("boneage")
cfg.annotations_file = "train_kfold.csv"
cfg.inference_annotations_file = "test.csv"
cfg.sample_submission_file = "sample_submission.csv"  # pid, bone_age: for skp-ensemble
cfg.id_column = "pid"
cfg.inputs = "filename"
cfg.targets = ["bone_age"]
cfg.fold_column = "fold"
cfg.image_height = 512
cfg.image_width = 512


@cfg.derived
def train_transforms(cfg):
    return A.Compose(
        [
            A.LongestMaxSize(max(cfg.image_height, cfg.image_width)),
            A.PadIfNeeded(cfg.image_height, cfg.image_width, border_mode=0),
            A.Affine(scale=(0.8, 1.2), translate_percent=(-0.1, 0.1), rotate=(-20, 20), p=0.5),
            A.RandomBrightnessContrast(p=0.5),
        ]
    )


@cfg.derived
def val_transforms(cfg):
    return A.Compose(
        [
            A.LongestMaxSize(max(cfg.image_height, cfg.image_width)),
            A.PadIfNeeded(cfg.image_height, cfg.image_width, border_mode=0),
        ]
    )


cfg.loss = "classification.L1Loss"
cfg.loss_params = {}
cfg.metrics = ["regression.MAE"]
cfg.val_metric = "mae"
cfg.val_track = "min"

cfg.batch_size = 16
cfg.num_epochs = 10
cfg.optimizer = "adamw"
cfg.optimizer_params = {"lr": 3e-4, "weight_decay": 1e-2}
cfg.scheduler = "LinearWarmupCosineAnnealingLR"
cfg.scheduler_params = {"warmup": 0.05}
cfg.scheduler_interval = "step"
