"""Real tuning runs on digits: few trials, two epochs, a few batches (marked slow)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from tests.tune import load_study
from skp.configs import load_config
from skp.tune.cli import main
from skp.tune.study import study_dir

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")]
FAST = ["--num_epochs", "2", "--limit_train_batches", "4", "--enable_progress_bar", "False"]
REPO = Path(__file__).resolve().parents[2]



def _finished(study):
    return [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


@pytest.fixture(scope="module")
def tuned():
    """One real study of 3 trials, then resumed to 4; its exported config removed afterwards."""
    name = "pytest_tune"
    assert main(["digits.cfg_baseline", "--study", name, "--trials", "3", *FAST]) == 0
    first = [t.number for t in load_study(name).trials]
    assert main(["digits.cfg_baseline", "--study", name, "--trials", "4", *FAST]) == 0
    exported = study_dir(name) / f"cfg_baseline_tuned_{name}.py"  # skp's example configs are not the user's folder
    yield name, first, exported


def test_study_holds_the_requested_trials_and_resumes_only_the_missing(tuned):
    name, first, _ = tuned
    study = load_study(name)
    assert len(first) == 3
    assert len(_finished(study)) == 4 and len(study.trials) == 4  # the re-run added exactly one


def test_trials_point_at_their_runs(tuned):
    for trial in load_study(tuned[0]).trials:
        run = Path(trial.user_attrs["run_dir"])
        assert (run / "run.json").exists()
        assert all(Path(p).exists() for p in trial.user_attrs["checkpoints"])
        assert trial.user_attrs["best_epoch"] in (0, 1)
        overrides = dict(trial.user_attrs["overrides"])
        assert overrides["optimizer_params.lr"] == trial.params["optimizer_params.lr"]
        assert json.loads((run / "fold0" / "config.json").read_text())["optimizer_params"]["weight_decay"] == trial.params["optimizer_params.weight_decay"]
        assert len(trial.intermediate_values) == 2  # one report per validation epoch


def test_report_plots_and_a_loadable_tuned_config(tuned):
    name, _, exported = tuned
    folder = study_dir(name)
    for plot in ("optimization_history", "param_importances", "parallel_coordinate", "intermediate_values"):
        assert (folder / f"{plot}.html").stat().st_size > 1000
    cfg = load_config(str(exported))
    best = load_study(name).best_trial
    assert cfg.optimizer_params["lr"] == best.params["optimizer_params.lr"]
    assert cfg.optimizer_params["weight_decay"] == best.params["optimizer_params.weight_decay"]
    assert cfg.num_epochs == 2  # tuned under --num_epochs 2: the config carries it
    assert "--limit_train_batches 4" in Path(cfg.config_file).read_text()  # Trainer flags are named


def test_the_study_holds_its_baseline_as_first_trial(tuned):
    first = load_study(tuned[0]).trials[0]
    own = load_config("digits.cfg_baseline")
    assert first.user_attrs["baseline"] is True and first.state == TrialState.COMPLETE
    assert first.params == {
        "optimizer_params.lr": own.optimizer_params["lr"],
        "optimizer_params.weight_decay": own.optimizer_params["weight_decay"],
    }
    assert sum(bool(t.user_attrs.get("baseline")) for t in load_study(tuned[0]).trials) == 1  # not queued again on resume


def test_trials_record_provenance(tuned):
    for trial in load_study(tuned[0]).trials:
        record = trial.user_attrs["provenance"]
        assert record["seed"] == 42 and record["packages"]["torch"] and record["host"]
        assert any(path.endswith("cfg_baseline.py") for path in record["config_sources"])


def test_seed_check_ranks_by_the_mean_and_a_trial_reproduces(tuned, capsys):
    name = tuned[0]
    argv = ["digits.cfg_baseline", "--study", name, "--trials", "4", "--confirm", "1", "--confirm-seeds", "1", *FAST]
    assert main(argv) == 0
    out = capsys.readouterr().out
    study = load_study(name)
    checked = {int(k.partition(":")[2]) for k in study.user_attrs if k.startswith("seed_check:")}
    best = min((t for t in study.trials if t.value is not None), key=lambda t: t.value)
    assert checked == {0, best.number} or (best.number == 0 and checked == {0})  # the best and the baseline
    assert "seed check" in out and "43: " in out and ("beats the baseline" in out or "the baseline (trial 0)" in out)
    assert (study_dir(name) / "seed_check.png").stat().st_size > 1000
    assert main(argv) == 0  # done seeds are not trained again
    assert "seed check of trial" not in capsys.readouterr().out

    from skp.train import main as train_main

    assert train_main(["--reproduce", f"{name}:{best.number}"]) == 0
    assert "identical" in capsys.readouterr().out


def test_report_flag_prints_the_table(tuned, capsys):
    assert main(["digits.cfg_baseline", "--study", tuned[0], "--report", "--num_epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "4 complete" in out and "best trial" in out
    assert "--num_epochs fixed for every trial" in out  # an override of a searched parameter fixes it


def test_dashboard_serves_the_study(tuned):
    name = tuned[0]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "skp.tune.cli", "digits.cfg_baseline", "--study", name, "--dashboard", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        studies = None
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as r:
                    studies = json.load(r)["study_summaries"]
                break
            except OSError:
                time.sleep(0.5)
        assert studies is not None, "optuna-dashboard did not answer"
        (summary,) = [s for s in studies if s["study_name"] == name]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{summary['study_id']}", timeout=10) as r:
            detail = json.load(r)
        assert len(detail["trials"]) == 4
        for trial in detail["trials"]:
            assert {p["name"] for p in trial["params"]} == {"optimizer_params.lr", "optimizer_params.weight_decay"}  # num_epochs fixed by --num_epochs
            assert len(trial["intermediate_values"]) == 2
            assert any(a["key"] == "run_dir" for a in trial["user_attrs"])
    finally:
        server.terminate()
        server.wait(10)


def test_aggressive_pruner_prunes_and_keeps_what_was_written(monkeypatch):
    import skp.tune.worker

    # log loss is always above 0, so every trial is pruned at its first report, except the
    # baseline, which is never pruned
    monkeypatch.setattr(skp.tune.worker, "make_pruner", lambda name, settings: optuna.pruners.ThresholdPruner(upper=0.0))
    assert main(["digits.cfg_baseline", "--study", "pytest_pruned", "--trials", "3", *FAST]) == 0
    baseline, *trials = load_study("pytest_pruned").trials
    assert baseline.user_attrs["baseline"] and baseline.state == TrialState.COMPLETE
    assert [t.state for t in trials] == [TrialState.PRUNED] * 2
    for trial in trials:
        assert list(trial.intermediate_values) == [0]  # stopped at once
        assert Path(trial.user_attrs["checkpoints"][0]).exists()
    for trial in (baseline, *trials):  # pruned or finished, a trial is never resumed: no state is left behind
        assert not (Path(trial.user_attrs["run_dir"]) / "fold0" / "resume.ckpt").exists()


def test_nan_loss_fails_trials_with_their_reason_and_the_worker_gives_up(capsys):
    argv = ["digits.cfg_baseline", "--study", "pytest_nan", "--trials", "1", "--freeze", "optimizer_params.lr=1e12", "--max-failures", "2", *FAST]
    assert main(argv) == 0
    trials = load_study("pytest_nan").trials
    assert len(trials) == 2 and all(t.state == TrialState.FAIL for t in trials)
    assert all("Training loss became" in t.user_attrs["fail_reason"] for t in trials)
    assert all(len(t.intermediate_values) == 0 for t in trials)  # ended in the first epoch
    assert "2 failed trials in a row" in capsys.readouterr().err


def test_two_workers_share_one_storage():
    argv = ["--study", "pytest_parallel", "--trials", "4", "--workers", "2", "--no-export", "--no-baseline", *FAST]
    assert main(["digits.cfg_baseline", *argv]) == 0
    trials = load_study("pytest_parallel").trials
    assert len(trials) == 4 and all(t.state == TrialState.COMPLETE for t in trials)
    assert not any(t.user_attrs.get("baseline") for t in trials)  # --no-baseline
    assert len({t.system_attrs["skp:pid"] for t in trials}) == 2
    assert not list(study_dir("pytest_parallel").glob("*_tuned*.py"))


def _wait_for_epochs(name: str, count: int, seconds: float) -> None:
    """Until study `name`'s first trial reported `count` epochs (a worker started apart)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        trials = load_study(name).trials if study_dir(name).exists() else []
        if trials and len(trials[0].intermediate_values) >= count:
            return
        time.sleep(0.25)
    pytest.fail(f"the worker never reported {count} epoch(s) in {seconds} s")


def test_a_killed_workers_trial_is_failed_and_retried():
    name = "pytest_killed"
    slow = ["--num_epochs", "30", "--limit_train_batches", "4", "--enable_progress_bar", "False"]
    assert main(["digits.cfg_baseline", "--study", name, "--report", *slow]) == 0  # creates the study
    cfg = load_config("digits.cfg_baseline")
    cfg.prepare_data(cfg)  # a driver's job, done before it starts workers; this test starts the worker itself
    worker = subprocess.Popen(
        [sys.executable, "-m", "skp.tune.cli", "digits.cfg_baseline", "--study", name, "--trials", "1", *slow, "--worker-index", "0"],
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_epochs(name, 1, seconds=120)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    assert load_study(name).trials[0].state == TrialState.RUNNING
    assert main(["digits.cfg_baseline", "--study", name, "--trials", "1", "--no-baseline", *FAST]) == 0
    killed, retry = load_study(name).trials
    assert killed.state == TrialState.FAIL and "worker died" in killed.user_attrs["fail_reason"]
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["retry_of"] == killed.number
    assert retry.params == killed.params
    assert retry.user_attrs["run_dir"] != killed.user_attrs["run_dir"]


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def test_a_stopped_trial_resumes_from_its_last_epoch_and_ends_as_if_never_stopped(stop):
    """The same command after a kill or Ctrl-C takes over the trial's folds: the epochs
    it trained are not trained again, and the value and OOF predictions are the ones an
    uninterrupted study gets."""
    argv = ["--trials", "1", "--no-baseline", "--pruner", "none", "--num_epochs", "4", "--limit_train_batches", "4",
            "--enable_progress_bar", "False", "--seed", "3"]
    assert main(["digits.cfg_baseline", "--study", "pytest_resume_twin", *argv]) == 0
    (twin,) = load_study("pytest_resume_twin").trials
    name = f"pytest_resume_{stop.name}"
    worker = subprocess.Popen([sys.executable, "-m", "skp.tune.cli", "digits.cfg_baseline", "--study", name, *argv],
                              env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_epochs(name, 2, seconds=60)
    finally:
        worker.send_signal(stop)
        worker.wait(timeout=120)
    assert main(["digits.cfg_baseline", "--study", name, *argv]) == 0
    stopped, retry = load_study(name).trials
    assert stopped.state == TrialState.FAIL and stopped.params == twin.params
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["resumed_from"] == stopped.number
    history = pd.read_csv(Path(retry.user_attrs["run_dir"]) / "fold0" / "history.csv")
    assert list(history.epoch) == [0, 1, 2, 3]  # one history: the epochs before the stop came along
    assert len(list((Path(retry.user_attrs["run_dir"]) / "fold0" / "logs").glob("version_*"))) == 2  # two starts
    assert retry.user_attrs["run_dir"] == stopped.user_attrs["run_dir"]  # it went on where the stopped one trained
    assert retry.intermediate_values == twin.intermediate_values
    assert retry.value == twin.value
    oof = [(Path(t.user_attrs["run_dir"]) / "fold0" / "oof.csv").read_bytes() for t in (twin, retry)]
    assert oof[0] == oof[1]
    assert not (Path(retry.user_attrs["run_dir"]) / "fold0" / "resume.ckpt").exists()


def test_several_folds_per_trial_report_the_running_mean():
    argv = ["digits.cfg_baseline", "--study", "pytest_folds", "--trials", "1", "--folds", "1,2", "--no-baseline", *FAST]
    assert main(argv) == 0
    (trial,) = load_study("pytest_folds").trials
    assert sorted(trial.intermediate_values) == [0, 1, 2, 3]  # two epochs per fold
    assert len(trial.user_attrs["best_epoch"]) == 2 and len(trial.user_attrs["checkpoints"]) == 2
    fold_bests = [json.loads((Path(trial.user_attrs["run_dir"]) / f"fold{k}" / "done.json").read_text())["best_value"] for k in (1, 2)]
    assert trial.value == pytest.approx(sum(fold_bests) / 2)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--sampler", "tpee"], "did you mean 'tpe'"),
        (["--pruner", "medain"], "did you mean 'median'"),
        (["--freeze", "nothing=1"], "--freeze takes KEY=VALUE"),
        (["--trials", "0"], "at least 1"),
        (["--sampler", "grid"], "grid needs Categorical"),
        (["--confirm", "2", "--confirm-seeds", "0"], "--confirm-seeds S >= 1"),
    ],
)
def test_bad_tune_input_is_a_clear_error(argv, message, capsys):
    assert main(["digits.cfg_baseline", "--study", "pytest_bad", *argv, *FAST]) == 2
    err = capsys.readouterr().err
    assert message.lower() in err.lower() and "Traceback" not in err
