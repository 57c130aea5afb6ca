"""--pruner rungs: successive halving over complete schedules."""

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest

from tests.tune import load_study
from skp.errors import SkpError
from skp.tune import trial as trial_module
from skp.tune.cli import main as tune_main
from skp.tune.pruners import PrunerSettings, make_pruner, rung_lengths

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_rung_lengths_end_at_the_trials_own_length():
    assert rung_lengths(1, 3, 9) == [1, 3, 9]
    assert rung_lengths(2, 3, 10) == [2, 6, 10]
    assert rung_lengths(4, 3, 10) == [4, 10]
    assert rung_lengths(10, 3, 10) == [10]
    assert rung_lengths(3, 3, 20) == [3, 9, 20]


def test_from_scratch_a_rung_nearly_as_long_as_the_trial_is_left_out():
    # a 27-epoch rung before 30 would cost 27 + 30 / 3 = 37 epochs a trial, against 30 without it
    assert rung_lengths(3, 3, 30) == [3, 9, 30]
    assert rung_lengths(3, 3, 10) == [3, 10]
    assert rung_lengths(3, 2, 40) == [3, 6, 12, 40]
    assert rung_lengths(9, 3, 10) == [10]
    # continued, a rung costs only its new epochs: all are kept
    assert rung_lengths(3, 3, 30, continued=True) == [3, 9, 27, 30]
    assert rung_lengths(3, 3, 10, continued=True) == [3, 9, 10]


def test_rungs_prune_by_successive_halving_at_the_rung_lengths():
    pruner = make_pruner("rungs", PrunerSettings(warmup=2, reduction=2), epochs=8)
    study = optuna.create_study(direction="minimize", pruner=pruner)
    for value in (0.1, 0.2, 0.3, 0.4):  # four trials report their 2-epoch rung
        trial = study.ask()
        trial.report(value, step=2)
        pruned = trial.should_prune()
        study.tell(trial, state=optuna.trial.TrialState.PRUNED if pruned else optuna.trial.TrialState.COMPLETE,
                   values=None if pruned else [value])
    states = [t.state.name for t in study.trials]
    assert states[0] == "COMPLETE" and "PRUNED" in states[2:]  # the worse half stops at the first rung


@pytest.mark.slow
def test_every_rung_is_a_complete_schedule_from_scratch(monkeypatch):
    ends = []  # (rung length, epochs trained, learning rate after the last step, first rate)

    class Recording(trial_module.EpochChecks):
        def on_train_start(self, trainer, pl_module):
            self.first = trainer.optimizers[0].param_groups[0]["lr"]

        def on_train_end(self, trainer, pl_module):
            ends.append((trainer.max_epochs, trainer.current_epoch, trainer.optimizers[0].param_groups[0]["lr"], self.first))

    monkeypatch.setattr(trial_module, "EpochChecks", Recording)
    name = "rungs-digits"
    argv = ["digits.cfg_baseline", "--study", name, "--trials", "5", "--pruner", "rungs", "--pruner-warmup", "1",
            "--reduction-factor", "2", "--num_epochs", "2", "--limit_train_batches", "3",
            "--enable_progress_bar", "False", "--no-export", "--scheduler_params.warmup", "0.5"]
    assert tune_main(argv) == 0
    # every schedule ran its whole length and ended at the schedule's final rate (cosine to 0)
    assert {length for length, *_ in ends} == {1, 2}
    assert all(epochs == length and last < 1e-3 * max(first, 1e-12) for length, epochs, last, first in ends)
    study = load_study(name)
    for trial in study.trials:
        steps = set(trial.intermediate_values)
        if trial.user_attrs.get("baseline"):
            assert steps == {2}  # the reference trains its own schedule only
        elif trial.state.name == "PRUNED":
            assert steps == {1}
        else:
            assert steps == {1, 2} and set(trial.user_attrs["rungs"]) == {"1", "2"}
            history = pd.read_csv(f"{trial.user_attrs['run_dir']}/fold0/history.csv")
            assert list(history.epoch) == [0, 1]  # the last rung started from scratch
            assert trial.value == pytest.approx(trial.user_attrs["rungs"]["2"])
    assert any(t.state.name == "PRUNED" for t in study.trials)


def test_rungs_take_a_warmup_and_reduction_only():
    from skp.tune.pruners import resolve_pruner_settings

    with pytest.raises(SkpError, match="--pruner-startup does not apply to --pruner rungs"):
        resolve_pruner_settings("rungs", PrunerSettings(startup=3), epochs=10)


@pytest.mark.slow
def test_continued_rungs_train_on_from_the_rungs_end(monkeypatch, tmp_path):
    starts = []  # (rung length, first epoch trained, rate after the first step, after the last; shares of the peak)

    class Recording(trial_module.EpochChecks):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if not hasattr(self, "first"):
                self.first = (trainer.current_epoch, trainer.optimizers[0].param_groups[0]["lr"])

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if not hasattr(self, "stepped"):  # the first step's rate, after the scheduler moved it
                self.stepped = trainer.optimizers[0].param_groups[0]["lr"]

        def on_train_end(self, trainer, pl_module):
            group = trainer.optimizers[0].param_groups[0]
            starts.append((trainer.max_epochs, self.first[0], self.stepped / group["initial_lr"], group["lr"] / group["initial_lr"]))

    monkeypatch.setattr(trial_module, "EpochChecks", Recording)
    name = "continued-rungs-digits"
    argv = ["digits.cfg_baseline", "--study", name, "--trials", "4", "--pruner", "rungs-continued", "--pruner-warmup", "1",
            "--reduction-factor", "2", "--num_epochs", "4", "--limit_train_batches", "3", "--enable_progress_bar", "False",
            "--no-export", "--scheduler_params.warmup", "0"]
    assert tune_main(argv) == 0
    study = load_study(name)
    survivors = [t for t in study.trials if t.state.name == "COMPLETE" and not t.user_attrs.get("baseline")]
    assert survivors and any(t.state.name == "PRUNED" for t in study.trials)
    # a rung of length L after one of length l starts at epoch l, not 0, and trains L - l epochs
    continued = [(length, first) for length, first, *_ in starts if first > 0]
    assert sorted(set(continued)) == [(2, 1), (4, 2)]
    # the stretched schedule restarts where the longer cosine is at epoch l (half of the
    # peak at l = L / 2), not where the shorter one had ended (0); every rung ends at 0
    for length, first, stepped, last in starts:
        step = first * 3 + 1  # 3 batches an epoch; the rate after the first step
        assert stepped == pytest.approx(0.5 * (1 + math.cos(math.pi * step / (length * 3))), rel=1e-4)
        assert last < 1e-3
    for trial in survivors:
        fold = Path(trial.user_attrs["run_dir"]) / "fold0"
        history = pd.read_csv(fold / "history.csv")
        assert list(history.epoch) == [0, 1, 2, 3]  # one history over the continued rungs
        assert set(trial.user_attrs["rungs"]) == {"1", "2", "4"}
        assert not (fold / "resume.ckpt").exists()  # kept between rungs only


@pytest.mark.slow
@pytest.mark.parametrize("pruner, killed_at", [("rungs", 6), ("rungs-continued", 4)])
def test_a_killed_rung_trial_goes_on_in_its_last_rung_and_ends_as_if_never_killed(pruner, killed_at, tmp_path):
    """Killed in the middle of its 4-epoch rung (after 1 and 2), a trial's retry does not
    train the rungs the pruner let through again, nor the epochs of the rung it was in:
    its values, the pruner's record of them and its OOF predictions are an uninterrupted
    twin's."""
    argv = ["--trials", "1", "--no-baseline", "--pruner", pruner, "--pruner-warmup", "1", "--reduction-factor", "2",
            "--num_epochs", "4", "--limit_train_batches", "3", "--enable_progress_bar", "False", "--no-export", "--seed", "3"]
    assert tune_main(["digits.cfg_baseline", "--study", f"{pruner}-twin", *argv]) == 0
    name = f"{pruner}-killed"
    # the epoch ends of rungs 1, 2, 4: from scratch 1 + 2 + 4, continued 1 + 1 + 2; killed before the last one's files
    fault = {"moment": "epoch end", "nth": killed_at, "signal": "SIGKILL", "target": "self", "mark": str(tmp_path / "fired")}
    killed = subprocess.run([sys.executable, "-m", "skp.tune.cli", "digits.cfg_baseline", "--study", name, *argv],
                            env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "SKP_FAULT": json.dumps(fault)}, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    assert tune_main(["digits.cfg_baseline", "--study", name, *argv]) == 0
    twin, = load_study(f"{pruner}-twin").trials
    stopped, retry = load_study(name).trials
    assert stopped.state.name == "FAIL" and set(stopped.intermediate_values) == {1, 2}
    assert retry.state.name == "COMPLETE" and retry.user_attrs["resumed_from"] == stopped.number
    assert retry.intermediate_values == twin.intermediate_values and retry.user_attrs["rungs"] == twin.user_attrs["rungs"]
    assert _pruner_record(retry) == _pruner_record(twin) and _pruner_record(twin)  # the rungs it passed, at their values
    assert retry.value == twin.value
    folds = [Path(t.user_attrs["run_dir"]) / "fold0" for t in (twin, retry)]
    assert folds[1].parent == Path(stopped.user_attrs["run_dir"])
    assert folds[0].joinpath("oof.csv").read_bytes() == folds[1].joinpath("oof.csv").read_bytes()
    assert list(pd.read_csv(folds[1] / "history.csv").epoch) == list(pd.read_csv(folds[0] / "history.csv").epoch)
    # one start more than the twin's, the resumed one: no rung trained again
    versions = [len(list((fold / "logs").glob("version_*"))) for fold in folds]
    assert versions[1] == versions[0] + 1
    assert not (folds[1] / "resume.ckpt").exists()




def _pruner_record(trial) -> dict:
    return {key: value for key, value in trial.system_attrs.items() if key.startswith("completed_rung_")}
