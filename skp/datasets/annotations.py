"""Reading and checking the CSV a dataset is described by, and the dataset base that
serves its rows (simple2d, dicom2d, nifti, nifti3d)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from skp.errors import SkpError

MODES = ("train", "val", "inference")


def data_file(cfg, name: str) -> Path:
    path = Path(name)
    return path if path.is_absolute() else Path(cfg.data_dir or ".") / path


def load_split(cfg, mode: str, required_columns: list[str]) -> pd.DataFrame:
    """Rows of the annotations for `mode`: other folds, cfg.fold, or the inference file."""
    if mode not in MODES:
        raise SkpError(f"Dataset mode must be one of {MODES}, got {mode!r}.")
    inference = mode == "inference"
    file_attr = "inference_annotations_file" if inference else "annotations_file"
    path = data_file(cfg, getattr(cfg, file_attr) or "")
    if not path.is_file():
        raise SkpError(
            f"Annotations file {path} not found (cfg.data_dir={cfg.data_dir!r}, "
            f"cfg.{file_attr}={getattr(cfg, file_attr)!r}). {cfg.config_name or 'This config'} "
            f"expects a CSV with columns {required_columns}. Point --data_dir (or "
            f"$SKP_DATA_DIR) at the folder that holds it."
        )
    frame = pd.read_csv(path)
    missing = [c for c in required_columns if c not in frame.columns]
    if missing:
        raise SkpError(
            f"{path} lacks column(s) {missing} that the config names; it has "
            f"{list(frame.columns)}. Fix the CSV or the config's column attributes."
        )
    if inference:
        return frame.reset_index(drop=True)
    folds = frame[cfg.fold_column]
    selected = frame[folds != cfg.fold] if mode == "train" else frame[folds == cfg.fold]
    if (folds == cfg.fold).sum() == 0:
        raise SkpError(
            f"Fold {cfg.fold} has no rows in {path}; its {cfg.fold_column!r} column holds "
            f"folds {sorted(folds.unique().tolist())}. Pick --kfold from those."
        )
    return selected.reset_index(drop=True)


def common_columns(cfg, inference: bool) -> list[str]:
    named = {"id_column": cfg.id_column, "inputs": cfg.inputs}
    if not inference:
        named.update(targets=cfg.targets, fold_column=cfg.fold_column)
    unset = [f"cfg.{name}" for name, value in named.items() if not value]
    if unset:
        raise SkpError(f"{cfg.config_name or 'This config'} does not set {', '.join(unset)}: name the CSV column(s) they stand for.")
    columns = [cfg.id_column, cfg.inputs, *(cfg.metadata_embeddings or {})]
    if not inference:
        columns += [*cfg.targets, cfg.fold_column]
    return columns


class CsvImages(torch.utils.data.Dataset):
    """Rows of the split (load_split), their ids, input paths (cfg.inputs under
    cfg.data_dir), targets (cfg.targets; none in inference) and categorical metadata
    (cfg.metadata_embeddings), served as item dicts around the float CHW (or CDHW)
    tensor a subclass reads: `image(i)`."""

    def __init__(self, cfg, mode: str, extra_columns: tuple = ()):
        self.cfg, self.mode = cfg, mode
        self.inference = mode == "inference"
        self.frame = load_split(cfg, mode, common_columns(cfg, self.inference) + [c for c in extra_columns if c])
        self.ids = self.frame[cfg.id_column].tolist()
        self.paths = [str(data_file(cfg, p)) for p in self.frame[cfg.inputs]]
        self.targets = None if self.inference else self.frame[cfg.targets].to_numpy(np.float32, copy=True)
        self.metadata = {c: self.frame[c].to_numpy(np.int64) for c in cfg.metadata_embeddings or {}}
        self.transforms = cfg.train_transforms if mode == "train" else cfg.val_transforms

    def __len__(self):
        return len(self.paths)

    def image(self, i: int) -> torch.Tensor:
        raise NotImplementedError

    def transformed(self, image: np.ndarray) -> torch.Tensor:
        """An HWC image through the split's albumentations, as a float CHW tensor."""
        if self.transforms is not None:
            image = self.transforms(image=image)["image"]
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()

    def __getitem__(self, i):
        item = {"x": self.image(i), "index": i}
        for column, values in self.metadata.items():
            item[column] = torch.tensor(values[i])
        if self.targets is not None:
            item["y"] = torch.from_numpy(self.targets[i])
        return item
