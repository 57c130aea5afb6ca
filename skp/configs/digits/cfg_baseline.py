"""A small timm CNN on scikit-learn's real handwritten digits (written on first use)."""

import albumentations as A
import cv2

from skp.configs import Config
from skp.toolbox.paths import data_path
from skp.toolbox.prepare_digits import prepare_digits
from skp.tune.space import Float, Int

cfg = Config()

cfg.task = "classification"
cfg.model = "classification.net2d"
cfg.backbone = "resnet10t"
cfg.pretrained = False
cfg.num_input_channels = 1
cfg.num_classes = 10
cfg.pool = "avg"
cfg.dropout = 0.1
cfg.normalization = "0_1"

cfg.dataset = "simple2d"
cfg.data_dir = data_path("digits")
cfg.prepare_data = prepare_digits
cfg.annotations_file = "train.csv"
cfg.inference_annotations_file = "test.csv"
cfg.sample_submission_file = "sample_submission.csv"
cfg.solution_file = "solution.csv"  # the test labels: skp-ensemble reports test scores
cfg.id_column = "id"
cfg.inputs = "filename"
cfg.targets = ["label"]
cfg.fold_column = "fold"
cfg.image_height = 32
cfg.cache_images = True  # 1437 images of 8x8: decode once per process, not once per epoch
cfg.image_width = 32


@cfg.derived
def train_transforms(cfg):
    return A.Compose(
        [
            A.Resize(cfg.image_height, cfg.image_width, interpolation=cv2.INTER_LINEAR),
            A.Affine(scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), rotate=(-10, 10), p=0.5),
        ]
    )


@cfg.derived
def val_transforms(cfg):
    return A.Compose([A.Resize(cfg.image_height, cfg.image_width, interpolation=cv2.INTER_LINEAR)])


cfg.loss = "classification.CrossEntropyLoss"
cfg.loss_params = {"label_smoothing": 0.0}
cfg.metrics = ["classification.Accuracy", "classification.AUROC", "classification.LogLoss"]
# Accuracy saturates on digits (most folds reach 0.99 to 1.0), so it cannot tell good
# settings from lucky ones; log loss keeps measuring how confident the right answers are.
cfg.val_metric = "logloss"
cfg.val_track = "min"
# The fold keeps its final epoch, not its best one. On 287 validation images log loss
# jumps from epoch to epoch, and the minimum over 40 epochs flattered long high-lr trials
# (0.0105 against 0.0188 at their last epoch) while their last epoch did better on test
# (docs/benchmarks.md, "Best epoch or last epoch"): selection on the noise made the
# study prefer noisy curves. The cosine schedule ends at lr 0, so the last epoch is settled.
cfg.select_epoch = "last"

cfg.batch_size = 64
cfg.num_epochs = 10
cfg.num_workers = 0  # on a CPU, loader workers compete with the model for cores (tests/benchmarks)
cfg.optimizer = "adamw"
cfg.optimizer_params = {"lr": 3e-3, "weight_decay": 1e-2}
cfg.scheduler = "LinearWarmupCosineAnnealingLR"
cfg.scheduler_params = {"warmup": 0.1}
cfg.scheduler_interval = "step"
cfg.mixup = 0.0
cfg.mixup_prob = 0.5

# skp-tune digits.cfg_baseline --trials 12 --pruner none --confirm 2 --promote 3
# Log loss still falls at the 10th epoch: the length of training is where the gain is
# (docs/benchmarks.md: the baseline at 30 epochs beats it on CV and on test beyond the
# seed noise). Dropout, mixup and image size moved nothing in two 16-trial studies and
# only spent trials, so the space holds training length and the optimizer's two knobs.
# Trials of different lengths cannot be compared epoch by epoch (a longer cosine
# schedule is worse mid-way and better at the end), hence no pruner for this space.
cfg.search_space = {
    "num_epochs": Int(10, 40, step=10),
    "optimizer_params.lr": Float(1e-3, 1e-2, log=True),
    "optimizer_params.weight_decay": Float(1e-4, 1e-1, log=True),
}
