"""Files written whole or not at all.

Every result skp keeps is written to a temporary name beside it and renamed over it, so
a killed process (the OOM killer, a preempted machine, kill -9) leaves the previous
version or nothing, never half a file. The temporary name is unique to the process and
thread: two commands writing the same file at once (two skp-ensemble runs sharing a
prediction cache) each rename a whole file of their own.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from skp.faults import reach

TMP_MARK = ".tmp"  # in every temporary name, before the suffix that libraries insist on (np.savez adds .npz)


def temporary_name(path: Path) -> Path:
    return path.with_name(f"{path.stem}.{os.getpid()}-{threading.get_ident()}{TMP_MARK}{path.suffix}")


def atomic_write(path, write, moment: str | None = None) -> None:
    """write(temporary path), then rename it to `path`. `moment` names the write for the
    chaos harness (default: the file's name)."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        write(tmp)
        reach(f"write {moment or path.name}")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def remove_leftovers(folder: Path) -> None:
    """Temporary files of writers killed in `folder` (call only where no writer runs)."""
    for tmp in Path(folder).glob(f"*{TMP_MARK}*"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
