"""Inference of fold checkpoints on the test set (or a fold's validation rows), with TTA
and an on-disk cache keyed by checkpoint content, data, view and config.

A TTA view is one entry of TTA_VIEWS: an albumentations transform applied after the
config's val_transforms. Predictions of all views are averaged per sample.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import statistics
import time
from pathlib import Path

import albumentations as A
import numpy as np
import torch

from skp.errors import SkpError
from skp.files import atomic_write, write_text
from skp.registry import resolve

TTA_VIEWS = {
    "hflip": lambda: A.HorizontalFlip(p=1.0),
    "vflip": lambda: A.VerticalFlip(p=1.0),
    "hvflip": lambda: A.Compose([A.HorizontalFlip(p=1.0), A.VerticalFlip(p=1.0)]),
    "transpose": lambda: A.Transpose(p=1.0),
}


def tta_views(tta) -> dict:
    """{name: transform or None}; the plain view ("none") always comes first."""
    views = {"none": None}
    if isinstance(tta, dict):
        views.update(tta)
        return views
    for name in tta or []:
        if name not in TTA_VIEWS:
            raise SkpError(
                f"Unknown TTA view {name!r}. Views: {', '.join(TTA_VIEWS)}; or give the recipe "
                f"tta={{'name': albumentations transform}} for a view of your own."
            )
        views[name] = TTA_VIEWS[name]()
    return views


def inference_config(cfg, mode: str, fold: int | None, view, test_file: str | None):
    """A private config for predicting `mode` rows with `view` appended to the val transforms."""
    cfg = cfg.copy()
    cfg.pretrained = False  # the checkpoint supplies every weight; nothing to download
    if fold is not None:
        cfg.fold = fold
    if test_file:
        cfg.inference_annotations_file = test_file
    if view is not None:
        base = cfg.val_transforms
        cfg.val_transforms = A.Compose([base, view]) if base is not None else A.Compose([view])
    return cfg


# -- checkpoints ---------------------------------------------------------------------
def file_digest(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_weights(path: Path, which: str, mmap: bool = False) -> dict:
    """The state dict of best.pt that `which` names, loaded without unpickling code
    (`mmap`: tensors stay on disk until read, enough to check names and shapes)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as err:  # not a zip of tensors, truncated, or holding pickled code
        raise SkpError(f"{path} is not a checkpoint skp can read ({type(err).__name__}: {str(err).splitlines()[0]}). Train that fold again with skp-train, or remove the fold from the member.") from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise SkpError(f"{path} is not a checkpoint skp wrote: it holds no state_dict (keys: {list(state)[:5] if isinstance(state, dict) else type(state).__name__}). Train that fold again with skp-train.")
    key = {"validated": state.get("validated", "state_dict"), "model": "state_dict", "ema": "ema_state_dict"}[which]
    if key not in state:
        raise SkpError(f"{path} has no {which} weights ({key}); the run trained without EMA. Use weights='validated'.")
    return state[key]


def check_weights(model: torch.nn.Module, weights: dict, path: Path, config_name: str) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    mismatched = [k for k in expected if k in weights and tuple(weights[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or mismatched:
        details = []
        if missing:
            details.append(f"{len(missing)} missing (e.g. {missing[:2]})")
        if unexpected:
            details.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:2]})")
        if mismatched:
            k = mismatched[0]
            details.append(f"{len(mismatched)} of another shape (e.g. {k}: {tuple(weights[k].shape)} vs {tuple(expected[k].shape)})")
        raise SkpError(
            f"Checkpoint {path} does not fit the model of {config_name} as configured now: "
            f"{'; '.join(details)}. Was the config file edited after training? Restore it, or "
            f"remove the member."
        )


def soup(states: list[dict]) -> dict:
    """The mean of the fold weights (floating tensors; counters are taken from the first)."""
    averaged = {}
    for key, value in states[0].items():
        if value.is_floating_point():
            averaged[key] = torch.stack([s[key] for s in states]).mean(0)
        else:
            averaged[key] = value
    return averaged


# -- data signature and cache ------------------------------------------------------
def data_signature(dataset) -> str:
    """Ids and image files (path, size, mtime) of a dataset: a changed image is a new input."""
    digest = hashlib.sha1()
    digest.update(repr(list(dataset.ids)).encode())
    for path in getattr(dataset, "paths", []):
        stat = os.stat(path)
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


class PredictionCache:
    """<folder>/<key>.npz, written atomically: an interrupted run keeps what finished.

    Checkpoint digests are remembered in <folder>/digests.json by (path, size,
    modification time), so a checkpoint is read and hashed once, not at every command."""

    def __init__(self, folder: Path | None):
        self.folder = folder
        self.hits = self.misses = 0
        self._digests = None
        self.costs: dict[str, dict] = {}  # key -> inference seconds per image (skp.ensemble.costs)

    def digest(self, path: Path) -> str:
        if self.folder is None:
            return file_digest(path)
        if self._digests is None:
            known = self.folder / "digests.json"
            self._digests = json.loads(known.read_text()) if known.is_file() else {}
        stat = os.stat(path)
        entry = self._digests.get(str(path))
        if entry and entry[:2] == [stat.st_size, stat.st_mtime_ns]:
            return entry[2]
        digest = file_digest(path)
        self._digests[str(path)] = [stat.st_size, stat.st_mtime_ns, digest]
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text(self.folder / "digests.json", json.dumps(self._digests))
        return digest

    def has(self, key: str) -> bool:
        return self.folder is not None and (self.folder / f"{key}.npz").is_file()

    @staticmethod
    def key(*parts) -> str:
        return hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()

    def get(self, key: str) -> np.ndarray | None:
        """The cached prediction; its inference cost, when recorded, goes to self.costs[key]."""
        if self.folder is None:
            return None
        path = self.folder / f"{key}.npz"
        if path.is_file():
            self.hits += 1
            with np.load(path) as cached:
                if "cost" in cached:  # predictions cached before costs were recorded have none
                    self.costs[key] = json.loads(str(cached["cost"]))
                return cached["pred"]
        self.misses += 1
        return None

    def put(self, key: str, pred: np.ndarray, cost: dict | None = None) -> None:
        if cost is not None:
            self.costs[key] = cost
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        extra = {} if cost is None else {"cost": np.array(json.dumps(cost))}
        atomic_write(self.folder / f"{key}.npz", lambda tmp: np.savez(tmp, pred=pred, **extra), moment="prediction cache")


# -- inference -----------------------------------------------------------------------
def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _autocast(dev: torch.device):
    if dev.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


def build_model(cfg):
    return resolve("models", cfg.model)(cfg)


def build_task(cfg):
    return resolve("tasks", cfg.task)(cfg)


def build_dataset(cfg, mode: str):
    return resolve("datasets", cfg.dataset)(cfg, mode)


def inference_batch_size(cfg, batch_size: int | None) -> int:
    """The recipe's batch size, else the config's validation one."""
    return batch_size or cfg.val_batch_size or cfg.batch_size


def inference_loader(dataset, cfg, batch_size: int | None) -> torch.utils.data.DataLoader:
    """Batches in dataset order, of inference_batch_size."""
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=inference_batch_size(cfg, batch_size),
        shuffle=False,
        num_workers=cfg.num_workers or 0,
        pin_memory=device().type == "cuda",
    )


def run_inference(task, models: list, loader, progress=None, timing: dict | None = None) -> list[np.ndarray]:
    """task.predict of every model over the loader's batches, in one pass: [(N, K) float32].

    `timing` receives seconds per image: "load" (reading, decoding, transforms, the copy to
    the device; shared by the models of the pass) and "models" (each model's forward), of
    the median batch: another process's burst of work slows a few batches, not the median.
    The first batch is left out when there are others: it pays one-off start-up costs."""
    dev = device()
    models = [model.to(dev).eval() for model in models]
    outputs = [[] for _ in models]
    batches = []  # (images, load seconds, [seconds of each model])
    with torch.inference_mode(), _autocast(dev):
        started = time.perf_counter()
        for batch in loader:
            batch = {k: v.to(dev, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
            loaded, spent = time.perf_counter() - started, []
            for model, kept in zip(models, outputs):
                begun = time.perf_counter()
                pred = task.predict(model(batch))
                kept.append(pred.float().reshape(len(pred), -1).cpu())  # .cpu() waits for the device
                spent.append(time.perf_counter() - begun)
            batches.append((len(pred), loaded, spent))
            if progress is not None:
                progress()
            started = time.perf_counter()
    if timing is not None and batches:
        counted = batches[1:] or batches
        timing.update(load=statistics.median(load / n for n, load, _ in counted),
                      models=[statistics.median(spent[i] / n for n, _, spent in counted) for i in range(len(models))])
    return [torch.cat(kept).numpy() for kept in outputs]
