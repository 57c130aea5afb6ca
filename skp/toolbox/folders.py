"""Write a data folder exactly once, safely under concurrent first use."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from skp.errors import SkpError

DONE_MARKER = ".complete"


def stratified_folds(labels, num_folds: int, seed: int):
    """Each row's fold (0..num_folds-1), every class spread evenly over the folds."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    folds = np.full(len(labels), -1)
    splitter = StratifiedKFold(num_folds, shuffle=True, random_state=seed)
    for fold, (_, val_index) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        folds[val_index] = fold
    return folds


def write_folder_once(target, writer) -> Path:
    """Call `writer(tmp_dir)` and move the result to `target` unless it is complete already.

    Several processes (tuning workers) may race here: each writes a private
    temporary folder and the first rename wins, so nobody reads a half-written one.
    """
    target = Path(target)
    if (target / DONE_MARKER).exists():
        return target
    if target.exists() and any(target.iterdir()):
        raise SkpError(
            f"{target} exists but was not written completely by skp (an interrupted first write, or "
            f"files of your own): remove it and run the command again, or name another folder with --data_dir."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        writer(tmp)
        (tmp / DONE_MARKER).touch()
        if target.exists():
            target.rmdir()  # empty, checked above
        tmp.rename(target)
    except OSError:
        if not (target / DONE_MARKER).exists():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
