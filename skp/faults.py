"""Faults on purpose, for the chaos harness (tests/chaos): a command is killed at a
chosen moment of its work, as the OOM killer or a preempted machine would kill it.

    SKP_FAULT='{"moment": "write oof.csv", "nth": 2, "signal": "SIGKILL", "target": "self", "mark": "/tmp/fired"}'

sends `signal` to `target` the nth time a process of the command reaches `moment`.
`mark` is created first, exclusively, so a fault fires once per command even when
several workers reach the moment. Targets: "self" (the process that reached it: a
worker, or the only process), "driver" (skp-tune's driver, else self), "command" (every
process of the command: its process group). MOMENTS lists where `reach` is called.
Without SKP_FAULT (always, outside the harness) `reach` is one dictionary lookup.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter

ENV = "SKP_FAULT"
DRIVER_PID = "SKP_DRIVER_PID"  # set by skp-tune's driver for the workers it starts
MOMENTS = {
    "epoch end": "a fold's validation epoch has ended; its files are not yet written",
    "write <file>": "a file is written whole under a temporary name and not yet renamed (skp.files)",
    "trial end": "a trial's folds are finished; the study does not know yet",
    "promotion claim": "a promotion worker holds a fold's lock and has not started it",
    "predicted": "skp-ensemble has predicted one member; the next is not started",
}
TARGETS = ("self", "driver", "command")  # where a fault at a moment may be sent

_reached: Counter = Counter()
_lock = threading.Lock()


def reach(moment: str) -> None:
    spec = os.environ.get(ENV)
    if spec:
        _fire_if_due(moment, json.loads(spec))


def _fire_if_due(moment: str, fault: dict) -> None:
    if fault["moment"] != moment:
        return
    with _lock:
        _reached[moment] += 1
        if _reached[moment] != fault["nth"]:
            return
    try:
        os.close(os.open(fault["mark"], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:  # another process of the command fired it
        return
    sent = signal.Signals[fault["signal"]]
    if fault["target"] == "command":
        os.killpg(os.getpgid(0), sent)
    elif fault["target"] == "driver":
        os.kill(int(os.environ.get(DRIVER_PID, os.getpid())), sent)
    else:
        os.kill(os.getpid(), sent)
