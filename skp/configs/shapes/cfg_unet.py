"""Binary segmentation of disks among boxes on a generated folder (written on first use)."""

import albumentations as A

from skp.configs import Config
from skp.toolbox.paths import data_path
from skp.toolbox.prepare_shapes import prepare_shapes

cfg = Config()

cfg.task = "segmentation"
cfg.model = "segmentation.unet"
cfg.backbone = "resnet10t"
cfg.pretrained = False
cfg.num_input_channels = 1
cfg.num_classes = 1
cfg.decoder_channels = [128, 64, 32, 16, 16]
cfg.model_params = {}  # any other argument of the smp architecture, e.g. {"decoder_attention_type": "scse"}
cfg.normalization = "0_1"

cfg.dataset = "simple2d_seg"
cfg.data_dir = data_path("shapes")
cfg.prepare_data = prepare_shapes
cfg.annotations_file = "train.csv"
cfg.inference_annotations_file = "test.csv"
cfg.sample_submission_file = "sample_submission.csv"
cfg.solution_file = "solution.csv"  # the test masks, run-length encoded: skp-ensemble scores them
cfg.id_column = "id"
cfg.inputs = "filename"
cfg.masks = "mask_filename"
cfg.fold_column = "fold"
cfg.image_height = 64
cfg.image_width = 64


@cfg.derived
def train_transforms(cfg):
    return A.Compose([A.Resize(cfg.image_height, cfg.image_width), A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)])


@cfg.derived
def val_transforms(cfg):
    return A.Compose([A.Resize(cfg.image_height, cfg.image_width)])


cfg.loss = "segmentation.BCEDiceLoss"
cfg.loss_params = {"bce_weight": 1.0, "dice_weight": 1.0}
cfg.metrics = ["segmentation.Dice"]
cfg.val_metric = "dice"
cfg.val_track = "max"

cfg.batch_size = 16
cfg.num_epochs = 10
cfg.num_workers = 0
cfg.optimizer = "adamw"
cfg.optimizer_params = {"lr": 3e-3, "weight_decay": 1e-4}
cfg.scheduler = "LinearWarmupCosineAnnealingLR"
cfg.scheduler_params = {"warmup": 0.1}
cfg.scheduler_interval = "step"
