"""The driver's side of parallel workers: one process per slot, watched while they run.

When a worker process dies (killed, out of memory, a crash), the driver reaps it at
once, fails the trial it was training with the reason, queues that trial's parameters
again (as a worker that finds a dead trial would) and starts a new worker on the same
slot (same CUDA_VISIBLE_DEVICES), up to MAX_RESTARTS times per slot. The survivors
therefore never wait for a heartbeat to expire, and the slot's GPU is not left idle.
A worker dies with its driver (`die_with_driver`), so a re-run never competes with orphans.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

from skp.faults import DRIVER_PID  # set for the workers a driver starts, not for workers started by hand
from skp.tune.study import import_optuna, make_storage
from skp.tune.worker import fail_trials_of, finished_and_running

MAX_RESTARTS = 3  # per slot: a worker that keeps dying points at something a restart cannot fix
WATCH_SECONDS = 0.5
# Exit statuses after which a worker is not restarted: done, bad input (the same for
# every worker), interrupted by Ctrl-C.
FINAL_CODES = (0, 2, 130)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def describe_slot(slot: dict) -> str:
    device = slot.get("CUDA_VISIBLE_DEVICES")
    return f"GPU {device}" if device else "CPU"


def start_worker(argv: list[str], index: int, slot: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "skp.tune.cli", *argv, "--worker-index", str(index)],
        env={**os.environ, **slot, DRIVER_PID: str(os.getpid())},
    )


def die_with_driver() -> None:
    """Called first in a worker the driver started: the kernel sends it SIGTERM when the
    driver dies. A driver killed with kill -9 would otherwise leave its workers training
    trials nobody waits for, on the GPUs the re-run command's new workers need. Linux
    only (prctl); elsewhere an orphan finishes its trial and stops."""
    driver = os.environ.get(DRIVER_PID)
    if driver is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(driver):  # the driver died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def write_whole_lines() -> None:
    """The driver and its workers share one terminal or pipe: write each line in one
    system call so that their lines never merge. Unbuffered output (PYTHONUNBUFFERED,
    set in many containers and CI runners) writes a print's text and its newline in two
    calls, between which another worker's line lands."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):  # not a notebook's stand-in
            stream.reconfigure(line_buffering=True, write_through=False)


def supervise(argv: list[str], slots: list[dict], options, work_left=None) -> list[int]:
    """Run one worker per slot until all have exited; return each slot's last exit status.

    A dead worker's slot is restarted while `work_left(study)` (default: the study lacks
    finished trials)."""
    write_whole_lines()
    study = import_optuna().load_study(study_name=options.study_name, storage=make_storage(options.storage, options.study_name))
    work_left = work_left or (lambda study: finished_and_running(study)[0] < options.trials)
    workers = {i: start_worker(argv, i, slot) for i, slot in enumerate(slots)}
    codes, restarts = {}, Counter()
    try:
        while workers:
            time.sleep(WATCH_SECONDS)
            for index, process in list(workers.items()):
                code = process.poll()  # reaps the process: a dead worker never lingers as a zombie
                if code is None:
                    continue
                del workers[index]
                codes[index] = code
                if code not in FINAL_CODES:
                    restarted = _after_death(study, work_left, argv, slots, index, process, restarts)
                    if restarted is not None:
                        workers[index] = restarted
    except KeyboardInterrupt:  # the workers got the same Ctrl-C; let them fail their trials
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for index, process in workers.items():
            codes[index] = process.wait()
    return [codes[i] for i in sorted(codes)]


def _after_death(study, work_left, argv, slots, index, process, restarts) -> subprocess.Popen | None:
    """Fail the dead worker's trial, queue it again, and restart the slot if work is left."""
    how = describe_exit(process.returncode)
    failed = fail_trials_of(study, process.pid, f"its worker process (pid {process.pid}) {how}")
    message = f"skp-tune: worker {index} ({describe_slot(slots[index])}) {how}"
    if failed:
        message += f"; its trial {', '.join(map(str, failed))} failed and was queued again"
    left, restarted = work_left(study), None
    if left and restarts[index] < MAX_RESTARTS:
        restarts[index] += 1
        restarted = start_worker(argv, index, slots[index])
        message += f"; a new worker takes its slot (restart {restarts[index]} of {MAX_RESTARTS})"
    elif left:
        message += f"; its slot stays empty after {MAX_RESTARTS} restarts"
    print(message, file=sys.stderr)
    return restarted
