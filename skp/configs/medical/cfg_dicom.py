"""Modality (CT, MR, CR) of real DICOM images that pydicom ships: a smoke test of dicom2d.

Each file under its own window (cfg.windows = "header": these files name one), the CRs
MONOCHROME1 and so inverted. pip install 'skp[medical]'; the folder is written on first use.
"""

import albumentations as A

from skp.configs import Config
from skp.toolbox.paths import data_path
from skp.toolbox.prepare_medical import prepare_medical

cfg = Config()

cfg.task = "classification"
cfg.model = "classification.net2d"
cfg.backbone = "resnet10t"
cfg.pretrained = False
cfg.num_input_channels = 1
cfg.num_classes = 3
cfg.pool = "avg"
cfg.dropout = 0.0
cfg.normalization = "0_1"

cfg.dataset = "dicom2d"
cfg.windows = "header"  # CT: a window in Hounsfield units, e.g. [(40, 400), (80, 200), (600, 2800)]
cfg.slice_column = None  # multi-frame files: the CSV column with each row's frame
cfg.slice_context = 0  # k: frames f-k..f+k as channels (2.5D)
cfg.cache_images = "memory"  # "disk": .npy files in cfg.cache_dir, shared by every run; "off"
cfg.cache_dir = None  # default <data_dir>/.skp-cache
cfg.data_dir = data_path("medical")
cfg.prepare_data = prepare_medical
cfg.annotations_file = "dicom_train.csv"
cfg.inference_annotations_file = "dicom_test.csv"
cfg.sample_submission_file = "dicom_sample_submission.csv"
cfg.solution_file = "dicom_solution.csv"
cfg.id_column = "id"
cfg.inputs = "filename"
cfg.targets = ["label"]
cfg.fold_column = "fold"
cfg.image_height = 64
cfg.image_width = 64


@cfg.derived
def train_transforms(cfg):
    return A.Compose([A.Resize(cfg.image_height, cfg.image_width), A.HorizontalFlip(p=0.5)])


@cfg.derived
def val_transforms(cfg):
    return A.Compose([A.Resize(cfg.image_height, cfg.image_width)])


cfg.loss = "classification.CrossEntropyLoss"
cfg.loss_params = {}
cfg.metrics = ["classification.Accuracy", "classification.LogLoss"]
cfg.val_metric = "logloss"
cfg.val_track = "min"

cfg.batch_size = 8
cfg.num_epochs = 30  # about 18 training images a fold: 3 steps an epoch
cfg.num_workers = 0
cfg.optimizer = "adamw"
cfg.optimizer_params = {"lr": 3e-3, "weight_decay": 1e-2}
cfg.scheduler = "LinearWarmupCosineAnnealingLR"
cfg.scheduler_params = {"warmup": 0.1}
cfg.scheduler_interval = "step"
