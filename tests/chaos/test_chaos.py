"""The chaos harness on a small schedule: the main job's loop, killed and re-run, ends
byte-identical to an uninterrupted twin and loses nothing (tests/chaos/harness.py;
tests/benchmarks/bench_chaos.py runs hundreds of seeded faults)."""

import os
from pathlib import Path

import pytest

from tests.chaos.harness import Fault, run_loop

# Faults that fire on any machine. A phase's first fault stops the whole command (a
# worker's death alone is absorbed: the driver restarts it and the command completes),
# so the second still finds work to interrupt.
SCHEDULE = {
    "study": [Fault("study", "timed", "SIGTERM", "command", delay=8.0),
              Fault("study", "moment", "SIGKILL", "self", "write oof.csv", 1)],
    "promotion": [Fault("promotion", "moment", "SIGKILL", "command", "write resume.ckpt", 2),
                  Fault("promotion", "moment", "SIGTERM", "self", "epoch end", 3)],
    "ensemble": [Fault("ensemble", "moment", "SIGKILL", "command", "write prediction cache", 3),
                 Fault("ensemble", "moment", "SIGTERM", "self", "write submission.csv", 1)],
}


@pytest.mark.slow
def test_the_loop_killed_at_any_moment_loses_nothing_and_ends_byte_identical(tmp_path):
    result = run_loop(tmp_path / "loop", SCHEDULE, data_dir=Path(os.environ["SKP_DATA_DIR"]), concurrent=True)
    assert result["violations"] == []
    assert result["completed"]
    faulted = [a for a in result["attempts"] if a["fault"]]
    assert [(a["phase"], a["fired"]) for a in faulted] == [(phase, True) for phase in SCHEDULE for _ in SCHEDULE[phase]]
    assert result["compared_files"] >= 2 * 5 + 2  # two promoted trials' folds and the ensemble's files
