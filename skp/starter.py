"""`skp init NAME`: a new competition project in the working directory.

    configs/NAME/cfg_baseline.py     a timm CNN with a search space
    ensembles/NAME/ens_baseline.py   its five folds blended into submission.csv
    data/NAME/README.md              the CSV contract the config reads

It trains as written once data/NAME holds the images and train.csv the README describes.
"""

from __future__ import annotations

import re
from pathlib import Path

from skp.errors import SkpError

CONFIG = '''"""{name}: a timm CNN on the images listed in data/{name}/train.csv (see its README.md).

    skp-train {name}.cfg_baseline --kfold 0,1,2,3,4
    skp-tune {name}.cfg_baseline --trials 20
    skp-ensemble {name}.ens_baseline
"""

import albumentations as A
import cv2

from skp.configs import Config
from skp.toolbox.paths import data_path
from skp.tune.space import Categorical, Float

cfg = Config()

cfg.task = "classification"
cfg.model = "classification.net2d"  # or a model of your own: "models/mynet.py" (class Net)
cfg.backbone = "resnet18d"  # any timm name
cfg.pretrained = False  # True downloads ImageNet weights from the Hugging Face hub (needs internet)
cfg.num_input_channels = 3
cfg.num_classes = {num_classes}
cfg.pool = "avg"
cfg.dropout = 0.1
cfg.normalization = "0_1"

cfg.dataset = "simple2d"
cfg.data_dir = data_path("{name}")  # $SKP_DATA_DIR/{name}, else ./data/{name}
cfg.annotations_file = "train.csv"
cfg.inference_annotations_file = "test.csv"
cfg.sample_submission_file = "sample_submission.csv"
cfg.id_column = "id"
cfg.inputs = "filename"
cfg.targets = ["label"]
cfg.fold_column = "fold"
cfg.image_height = {size}
cfg.image_width = {size}


@cfg.derived  # re-evaluated after overrides: --image_height 128 reaches the transforms
def train_transforms(cfg):
    return A.Compose(
        [
            A.Resize(cfg.image_height, cfg.image_width, interpolation=cv2.INTER_LINEAR),
            A.HorizontalFlip(p=0.5),
            A.Affine(scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), rotate=(-10, 10), p=0.5),
        ]
    )


@cfg.derived
def val_transforms(cfg):
    return A.Compose([A.Resize(cfg.image_height, cfg.image_width, interpolation=cv2.INTER_LINEAR)])


cfg.loss = "classification.CrossEntropyLoss"
cfg.metrics = ["classification.Accuracy", "classification.LogLoss"]
cfg.val_metric = "logloss"
cfg.val_track = "min"

cfg.batch_size = 32
cfg.num_epochs = 10
cfg.optimizer = "adamw"
cfg.optimizer_params = {{"lr": 1e-3, "weight_decay": 1e-2}}
cfg.scheduler = "LinearWarmupCosineAnnealingLR"
cfg.scheduler_params = {{"warmup": 0.1}}
cfg.scheduler_interval = "step"

cfg.search_space = {{
    "optimizer_params.lr": Float(1e-4, 1e-2, log=True),
    "optimizer_params.weight_decay": Float(1e-4, 1e-1, log=True),
    "dropout": Float(0.0, 0.5),
    "backbone": Categorical(["resnet18d", "efficientnet_b0"]),
}}
'''

RECIPE = '''"""{name}: the five folds of cfg_baseline, their test predictions averaged.

    skp-train {name}.cfg_baseline --kfold 0,1,2,3,4
    skp-ensemble {name}.ens_baseline          # -> ensembles/{name}/ens_baseline/submission.csv
"""

from skp.ensemble import Recipe, Run

recipe = Recipe(members=[Run("{name}.cfg_baseline")], blend="mean")
'''

DATA_README = '''# data/{name}

What `configs/{name}/cfg_baseline.py` reads (change the column attributes in the config
to fit other names; set `$SKP_DATA_DIR` to keep data elsewhere: it then reads
`$SKP_DATA_DIR/{name}`).

- Images: any files OpenCV reads (PNG, JPEG, ...), anywhere under this folder.
- `train.csv`, one row per training image:
  - `id`: a unique id,
  - `filename`: the image's path relative to this folder,
  - `label`: the class index, 0 to {last_class} (`cfg.num_classes = {num_classes}`),
  - `fold`: the cross-validation fold, 0 to 4 (e.g. scikit-learn's StratifiedKFold).
- `test.csv` (for skp-ensemble): `id` and `filename` of the test images.
- `sample_submission.csv` (for skp-ensemble): the competition's sample, `id` first; the
  submission is written in its shape and order.
'''


def init_project(name: str, num_classes: int = 2, image_size: int = 224, root: Path | None = None) -> list[Path]:
    """Write the starter files; refuses to replace any file that exists."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise SkpError(f"Project name {name!r} must be a Python identifier (letters, digits, _), e.g. boneage or my_comp.")
    if num_classes < 2:
        raise SkpError(f"--num-classes must be at least 2, got {num_classes}.")
    root = Path(root or ".")
    values = {"name": name, "num_classes": num_classes, "last_class": num_classes - 1, "size": image_size}
    files = {
        root / "configs" / name / "cfg_baseline.py": CONFIG.format(**values),
        root / "ensembles" / name / "ens_baseline.py": RECIPE.format(**values),
        root / "data" / name / "README.md": DATA_README.format(**values),
    }
    existing = [str(p) for p in files if p.exists()]
    if existing:
        raise SkpError(f"skp init would replace {', '.join(existing)}; move them away or pick another project name.")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)
