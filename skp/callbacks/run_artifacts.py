"""Writes a fold's artefacts after every validation epoch, on a background thread.

    best.pt    weights of the selected epoch (+ EMA weights), with epoch and value: the
               best so far by val_metric, or with select="last" the latest epoch
    oof.csv    the selected epoch's out-of-fold predictions, one row per validation sample
    oof_masks.npy  the selected epoch's dense predictions (segmentation), in oof.csv's order;
               streamed to a memory-mapped file during validation, never held in RAM
    last.pt    weights of the latest epoch (not for tuning trials)
    resume.ckpt full Lightning state (optimizer, schedulers, EMA, this callback), removed
               once the fold is complete; a re-run of the same command resumes from it, and
               a tuning trial's retry takes over its dead attempt's (skp.tune.trial); not
               with `save_state` False (trials that are never resumed mid-schedule)
"""

from __future__ import annotations

import math
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning_utilities.core.apply_func import apply_to_collection

from skp.errors import SkpError
from skp.faults import reach
from skp.files import atomic_write

RESUME_FILE = "resume.ckpt"
MASKS_FILE = "oof_masks.npy"


def _cpu_copy(obj):
    """Every tensor copied to CPU memory now: training goes on changing the originals."""
    return apply_to_collection(obj, torch.Tensor, lambda t: t.detach().to("cpu", copy=True))


class BackgroundWriter:
    """Writes an epoch's files on a thread while the next epoch trains.

    Checkpoints of a large model (weights, optimizer state, EMA) are hundreds of MB per
    epoch; written in the training loop they left a GPU idle for most of a short epoch.
    What is added is copied to CPU memory at once, so the files hold exactly that
    epoch's state; one epoch's writes are in flight at a time, and `flush` waits for
    them (and raises their error, e.g. a full disk) before the fold counts as done.
    """

    def __init__(self):
        self._executor: ThreadPoolExecutor | None = None
        self._job: Future | None = None
        self._pending: list = []

    def add(self, obj, *paths: Path) -> None:
        """torch.save of `obj` to every path, from one CPU copy taken now."""
        copied = _cpu_copy(obj)
        self._pending += [(Path(path), lambda tmp, copied=copied: torch.save(copied, tmp)) for path in paths]

    def add_csv(self, frame, path: Path) -> None:
        self._pending.append((Path(path), lambda tmp: frame.to_csv(tmp, index=False)))

    def add_move(self, source: Path, path: Path) -> None:
        """Move a finished file into place together with the epoch's other files."""
        self._pending.append((Path(path), lambda tmp: os.replace(source, tmp)))

    def submit(self) -> None:
        self.flush()
        pending, self._pending = self._pending, []
        if pending:
            self._executor = self._executor or ThreadPoolExecutor(1, thread_name_prefix="skp-artifacts")
            self._job = self._executor.submit(_write_all, pending)

    def flush(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            job.result()


def _write_all(pending: list) -> None:
    for path, write in pending:
        atomic_write(path, write)


class BackgroundCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writes (resume.ckpt) through the fold's BackgroundWriter."""

    def __init__(self, writer: BackgroundWriter):
        super().__init__()
        self.writer = writer

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        self.writer.add(checkpoint, Path(path))


class RunArtifacts(pl.Callback):
    def __init__(self, fold_dir, monitor: str, mode: str, tuning: bool = False, select: str = "best", save_state: bool = True):
        if mode not in ("max", "min"):
            raise ValueError(f"val_track must be 'max' or 'min', got {mode!r}")
        if select not in ("best", "last"):
            raise ValueError(f"select must be 'best' or 'last', got {select!r}")
        self.fold_dir, self.monitor, self.mode, self.tuning, self.select = Path(fold_dir), monitor, mode, tuning, select
        self.save_state = save_state
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.writer = BackgroundWriter()
        self._masks = None  # this epoch's dense predictions (np.memmap), while validating

    def improved(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best_value is None or self.select == "last":
            return True
        return value > self.best_value if self.mode == "max" else value < self.best_value

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if trainer.sanity_checking or not isinstance(outputs, dict) or outputs.get("dense") is None:
            return
        dense, index = outputs["dense"], outputs["index"]
        if trainer.world_size > 1:  # equal shapes on every rank: the distributed sampler pads
            dense, index = pl_module.all_gather(dense).flatten(0, 1), pl_module.all_gather(index).flatten()
        if not trainer.is_global_zero:
            return
        if self._masks is None:
            shape = (len(trainer.val_dataloaders.dataset), *dense.shape[1:])
            self._masks = np.lib.format.open_memmap(self.fold_dir / (MASKS_FILE + ".partial"), mode="w+", dtype=np.uint8, shape=shape)
        self._masks[index.cpu().numpy()] = dense.cpu().numpy()

    def _keep_masks(self, is_best: bool) -> None:
        """The epoch's masks become oof_masks.npy when it is the best; otherwise the
        partial file is reused (overwritten) by the next epoch."""
        if self._masks is None or not is_best:
            return
        self._masks.flush()
        partial, self._masks = Path(self._masks.filename), None
        self.writer.add_move(partial, self.fold_dir / MASKS_FILE)

    def on_validation_end(self, trainer, pl_module):
        if self.monitor not in trainer.callback_metrics:
            logged = sorted(k for k in trainer.callback_metrics if k.startswith("val/"))
            raise SkpError(
                f"cfg.val_metric {self.monitor[4:]!r} is not a validation value; the metrics in "
                f"cfg.metrics and the loss give {[k[4:] for k in logged]}. Set --val_metric to one of them."
            )
        if trainer.sanity_checking:
            return
        reach("epoch end")
        value = float(trainer.callback_metrics[self.monitor])
        epoch = trainer.current_epoch
        meta = {"epoch": epoch, "monitor": self.monitor, "value": value, "config_name": pl_module.cfg.config_name}
        is_best = self.improved(value)
        if is_best:
            self.best_value, self.best_epoch = value, epoch
        if trainer.is_global_zero and (is_best or not self.tuning):
            weights = {**pl_module.weights(), **meta}
            paths = ([] if self.tuning else [self.fold_dir / "last.pt"]) + ([self.fold_dir / "best.pt"] if is_best else [])
            self.writer.add(weights, *paths)  # one copy of the weights for both files
            if is_best:
                self.writer.add_csv(pl_module.oof_frame(), self.fold_dir / "oof.csv")
            self._keep_masks(is_best)
        if self.save_state:
            # through BackgroundCheckpointIO when fit_fold installed it, else written here
            trainer.save_checkpoint(self.fold_dir / RESUME_FILE, weights_only=False)
        self.writer.submit()

    def _drop_partial_masks(self) -> None:
        if self._masks is not None:
            partial, self._masks = Path(self._masks.filename), None
            partial.unlink(missing_ok=True)

    def teardown(self, trainer, pl_module, stage):
        self.writer.flush()  # the files are whole before the fold counts as done
        self._drop_partial_masks()

    def on_exception(self, trainer, pl_module, exception):
        self.writer.flush()  # failed, pruned or interrupted: what finished is on disk
        self._drop_partial_masks()

    def state_dict(self):
        return {"best_value": self.best_value, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict):
        self.best_value = state_dict["best_value"]
        self.best_epoch = state_dict["best_epoch"]
