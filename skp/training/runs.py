"""Run directories: `<save_dir>/<project>/<cfg_name>/<run_id>/fold<k>/`.

The default run id is a hash of the config's source files (its own and those it
inherits) and the overrides, so re-running the same command finds the same run:
finished folds are skipped and an interrupted fold resumes from its resume.ckpt.
run.json records what made the run (skp.provenance) and config_src/ keeps a copy of
each config file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from skp.callbacks.run_artifacts import RESUME_FILE
from skp.configs.lookup import config_label
from skp.errors import SkpError
from skp.files import atomic_write, remove_leftovers, write_text
from skp.provenance import copy_config_sources, provenance

DONE_FILE = "done.json"
RUN_FILE = "run.json"


def read_run_meta(directory) -> dict | None:
    """The run.json of run directory `directory`, or None when it has none (here)."""
    path = Path(directory) / RUN_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def config_sources(cfg) -> list[str]:
    """The config's file, then the files it inherits from (none for a Config built in code)."""
    return list(cfg.config_sources or ([cfg.config_file] if cfg.config_file else []))


def config_fingerprint(cfg, overrides: list[tuple[str, str]]) -> str:
    source = b"".join(Path(f).read_bytes() for f in config_sources(cfg))
    text = json.dumps([config_label(cfg.config_name), overrides], sort_keys=True)
    return hashlib.sha1(source + text.encode()).hexdigest()


# Trainer flags that change what is shown, not what is trained.
DISPLAY_FLAGS = ("enable_progress_bar", "log_every_n_steps")


def run_fingerprint(cfg, overrides, debug: bool = False, trainer_kwargs: dict | None = None) -> str:
    """The fingerprint skp-train gives a run; Trainer flags count too (a run limited
    to a few batches is not the full run), except those that only change the display."""
    settings = list(overrides) + [("debug", str(debug))]
    settings += sorted((k, str(v)) for k, v in (trainer_kwargs or {}).items() if k not in DISPLAY_FLAGS)
    return config_fingerprint(cfg, settings)


def default_run_id(fingerprint: str) -> str:
    return f"run-{fingerprint[:8]}"


def save_root(cfg) -> Path:
    """Root of run directories: cfg.save_dir, else $SKP_SAVE_DIR, else ./experiments."""
    return Path(cfg.save_dir or os.environ.get("SKP_SAVE_DIR", "experiments"))


def run_dir(cfg, run_id: str) -> Path:
    project, _, name = config_label(cfg.config_name).partition(".")
    return save_root(cfg) / project / name / run_id


def prepare_run_dir(cfg, run_id: str, fingerprint: str, overwrite: bool, overrides=(), trainer_kwargs=None, debug=False) -> Path:
    """Create (or check) the run directory and record what produced it.

    run.json keeps the config overrides, so skp-ensemble rebuilds the run's exact
    config, and the Trainer flags, so `skp-train --reproduce` repeats the run.
    """
    directory = run_dir(cfg, run_id)
    if overwrite and directory.exists():
        shutil.rmtree(directory)
    meta_file = directory / RUN_FILE
    if meta_file.exists():
        previous = json.loads(meta_file.read_text())
        if previous.get("fingerprint") != fingerprint:
            raise SkpError(
                f"Run directory {directory} holds a run of a different config or overrides "
                f"({previous.get('command')}). Pass --overwrite_run to replace it, or choose "
                f"another --run_id."
            )
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    meta = {
        "config_name": cfg.config_name,
        "run_id": run_id,
        "fingerprint": fingerprint,
        "overrides": [[key, value] for key, value in overrides],
        "trainer_kwargs": dict(trainer_kwargs or {}),
        "debug": debug,
        "command": " ".join(sys.argv),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "provenance": provenance(config_sources(cfg), cfg.seed),
    }
    copy_config_sources(config_sources(cfg), directory)
    write_text(directory / "config.json", cfg.to_json())
    write_text(meta_file, json.dumps(meta, indent=2))  # last: its presence means the directory is complete
    return directory


@contextmanager
def fold_claim(directory: Path, fold: int, wait: bool = False):
    """Yields True when this process holds fold `fold`'s lock (<run dir>/fold<k>.lock),
    False when another process holds it; with `wait`, blocks until it is free. Only the
    holder trains or clears a fold, so two commands never train one fold at once (nor
    delete it under each other); the kernel releases the lock when its holder dies."""
    import fcntl

    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / f"fold{fold}.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def fold_state(fold_dir: Path, num_epochs: int | None = None) -> str:
    """'done', 'resumable' or 'new' (a fold that died before its first epoch restarts).

    With `num_epochs` (a tuning trial's rung), a fold is done only when it ended a schedule
    of that length: one that ended a shorter rung goes on from the state that rung kept
    (a continued rung), or starts anew (a rung from scratch keeps no state)."""
    if (fold_dir / DONE_FILE).exists() and num_epochs in (None, read_done(fold_dir).get("num_epochs")):
        return "done"
    if (fold_dir / RESUME_FILE).exists():
        if readable_checkpoint(fold_dir / RESUME_FILE):
            remove_leftovers(fold_dir)
            return "resumable"
        print(f"skp: {fold_dir / RESUME_FILE} is damaged (truncated or corrupt); fold {fold_dir.name[4:]} trains again from the start.",
              file=sys.stderr, flush=True)
    if fold_dir.exists():
        shutil.rmtree(fold_dir)
    return "new"


def readable_checkpoint(path: Path) -> bool:
    """Whether torch can open the checkpoint (memory-mapped: nothing is read into memory)."""
    import torch

    try:
        torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    except Exception:  # a damaged file fails in zip, pickle or storage code alike
        return False
    return True


def read_done(fold_dir: Path) -> dict:
    return json.loads((fold_dir / DONE_FILE).read_text())


def write_done(fold_dir: Path, summary: dict) -> None:
    write_text(fold_dir / DONE_FILE, json.dumps(summary, indent=2))
    (fold_dir / RESUME_FILE).unlink(missing_ok=True)
    remove_leftovers(fold_dir)


def write_history(fold_dir: Path) -> Path:
    """history.csv: one row per epoch, merged over every (re)start's logs/version_N.

    A resumed start repeats the epoch that was interrupted; its later values win.
    """
    import pandas as pd

    logs = sorted((fold_dir / "logs").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name[8:]))
    frames = [pd.read_csv(p).assign(_start=i) for i, p in enumerate(logs) if p.stat().st_size]
    path = fold_dir / "history.csv"
    if frames:
        merged = pd.concat(frames, ignore_index=True)
        latest = merged[merged._start == merged.groupby("epoch")._start.transform("max")]
        history = latest.drop(columns=["_start", "step"]).groupby("epoch").last().reset_index()
        atomic_write(path, lambda tmp: history.to_csv(tmp, index=False))
    return path
