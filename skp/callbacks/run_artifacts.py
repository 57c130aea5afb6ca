"""Writes a fold's artefacts after every validation epoch.

    best.pt    weights of the best epoch so far (+ EMA weights), with epoch and value
    oof.csv    the best epoch's out-of-fold predictions, one row per validation sample
    last.pt    weights of the latest epoch                     } not for tuning trials,
    resume.ckpt full Lightning state (optimizer, schedulers,   } which are retried as new
               EMA, this callback), removed once the fold is   } trials, never resumed
               complete; a re-run of the same command resumes from it
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import lightning.pytorch as pl
import torch

from skp.errors import SkpError

RESUME_FILE = "resume.ckpt"


def atomic_torch_save(obj, path: Path) -> None:
    """Save to a temporary name first so a kill never leaves a truncated file."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class RunArtifacts(pl.Callback):
    def __init__(self, fold_dir, monitor: str, mode: str, tuning: bool = False):
        if mode not in ("max", "min"):
            raise ValueError(f"val_track must be 'max' or 'min', got {mode!r}")
        self.fold_dir, self.monitor, self.mode, self.tuning = Path(fold_dir), monitor, mode, tuning
        self.best_value: float | None = None
        self.best_epoch: int | None = None

    def improved(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best_value is None:
            return True
        return value > self.best_value if self.mode == "max" else value < self.best_value

    def on_validation_end(self, trainer, pl_module):
        if self.monitor not in trainer.callback_metrics:
            logged = sorted(k for k in trainer.callback_metrics if k.startswith("val/"))
            raise SkpError(
                f"cfg.val_metric {self.monitor[4:]!r} is not a validation value; the metrics in "
                f"cfg.metrics and the loss give {[k[4:] for k in logged]}. Set --val_metric to one of them."
            )
        if trainer.sanity_checking:
            return
        value = float(trainer.callback_metrics[self.monitor])
        epoch = trainer.current_epoch
        meta = {"epoch": epoch, "monitor": self.monitor, "value": value, "config_name": pl_module.cfg.config_name}
        is_best = self.improved(value)
        if is_best:
            self.best_value, self.best_epoch = value, epoch
        if trainer.is_global_zero and (is_best or not self.tuning):
            weights = {**pl_module.weights(), **meta}
            if not self.tuning:
                atomic_torch_save(weights, self.fold_dir / "last.pt")
            if is_best:
                atomic_torch_save(weights, self.fold_dir / "best.pt")
                tmp = self.fold_dir / "oof.csv.tmp"
                pl_module.oof_frame().to_csv(tmp, index=False)
                os.replace(tmp, self.fold_dir / "oof.csv")
        if self.tuning:
            return
        resume = self.fold_dir / RESUME_FILE
        trainer.save_checkpoint(resume.with_name(RESUME_FILE + ".tmp"), weights_only=False)
        if trainer.is_global_zero:
            os.replace(resume.with_name(RESUME_FILE + ".tmp"), resume)

    def state_dict(self):
        return {"best_value": self.best_value, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict):
        self.best_value = state_dict["best_value"]
        self.best_epoch = state_dict["best_epoch"]
