"""The chaos harness on a small schedule: the main job's loop, killed and re-run, ends
byte-identical to an uninterrupted twin and loses nothing (tests/chaos/harness.py;
tests/benchmarks/bench_chaos.py runs hundreds of faults)."""

import os
from pathlib import Path

import pytest

from tests.chaos.harness import run_loop

SEED = 5  # a schedule whose faults fire in every phase (moments and random delays)


@pytest.mark.slow
def test_the_loop_killed_at_random_moments_loses_nothing_and_ends_byte_identical(tmp_path):
    result = run_loop(tmp_path / "loop", SEED, faults_per_phase=2, data_dir=Path(os.environ["SKP_DATA_DIR"]), concurrent=True)
    assert result["violations"] == []
    assert result["completed"]
    fired = {a["phase"] for a in result["attempts"] if a["fired"]}
    assert fired == {"study", "promotion", "ensemble"}, result["schedule"]
    assert result["compared_files"] >= 2 * 5 + 2  # two promoted trials' folds and the ensemble's files
