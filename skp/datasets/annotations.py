"""Reading and checking the CSV a dataset is described by (shared by the 2D datasets)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

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
