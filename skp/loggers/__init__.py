"""Lightning loggers: CSV always, TensorBoard when installed, Neptune on request."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger


def build_loggers(cfg, fold_dir: Path, tensorboard: bool = True) -> list:
    # Each start of a fold (a resume included) logs to a new logs/version_N, since
    # CSVLogger deletes an existing metrics file; history.csv merges them.
    loggers = [CSVLogger(save_dir=fold_dir, name="logs")]
    if tensorboard and importlib.util.find_spec("tensorboard") is not None:
        loggers.append(TensorBoardLogger(save_dir=fold_dir, name="tensorboard"))
    if cfg.neptune_mode:
        from skp.loggers.neptune import NeptuneLogger

        loggers.append(NeptuneLogger(cfg))
    return loggers
