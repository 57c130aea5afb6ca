"""The journal file's lock: held with flock(2), so the kernel frees it when its holder dies.

Optuna's file locks are lock files that a dead holder leaves behind: a worker killed
(kill -9, out of memory) while it appended to the journal stalled every other worker,
the driver and the dashboard for the 30 s grace period before the file was broken. A
flock is released with the process. On Linux, NFS clients pass flock to the server
(NFSv4 natively), so a journal on a shared file system stays safe; a machine that dies
holding it is freed when its NFS lease expires.
"""

from __future__ import annotations

import os
import threading

from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None


class FlockLock:
    """The lock object JournalFileBackend takes: acquire() and release()."""

    def __init__(self, journal_path: str) -> None:
        self._path = journal_path + ".flock"
        self._held = threading.local()  # one descriptor per thread: flock excludes threads too

    def __getstate__(self) -> dict:
        # Ray pickles the study (and so this lock) into its experiment state; a held
        # descriptor means nothing in another process.
        return {"_path": self._path}

    def __setstate__(self, state: dict) -> None:
        self._path = state["_path"]
        self._held = threading.local()

    def acquire(self) -> bool:
        fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._held.fd = fd
        return True

    def release(self) -> None:
        fd, self._held.fd = self._held.fd, None
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def journal_backend(path: str) -> JournalFileBackend:
    lock = FlockLock(path) if fcntl is not None else JournalFileOpenLock(path)
    return JournalFileBackend(path, lock_obj=lock)
