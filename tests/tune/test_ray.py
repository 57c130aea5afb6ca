"""skp-tune --backend ray: flags and recording (fast), real Ray runs and a two-node cluster (slow)."""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from tests.processes import Logged
from tests.tune import load_study
from skp.errors import SkpError
from skp.tune.cli import build_parser, main
from skp.tune.options import prepare
from skp.tune.study import make_sampler, make_storage

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
FAST = ["--num_epochs", "2", "--limit_train_batches", "4"]



def _states(study):
    return sorted(t.state.name for t in study.trials)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--gpus-per-trial", "0.5"], "--gpus-per-trial only applies to the ray backend"),
        (["--address", "auto", "--max-concurrent", "2"], "--address, --max-concurrent only apply to the ray backend"),
        (["--backend", "ray", "--workers", "2"], "--workers only applies to the optuna backend"),
        (["--backend", "ray", "--trials-per-gpu", "2"], "--trials-per-gpu only applies to the optuna backend"),
        (["--backend", "ray", "--pruner", "pbt"], "Unknown --pruner 'pbt'. Choose one of median, asha, hyperband, rungs, rungs-continued, none."),
    ],
)
def test_flags_of_the_other_backend_are_refused(argv, message, capsys, monkeypatch):
    monkeypatch.setattr("skp.tune.ray_backend.start_ray", lambda *a: pytest.fail("Ray must not start"))
    assert main(["digits.cfg_baseline", "--study", "pytest_ray_flags", *argv, *FAST]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_without_ray_the_backend_says_how_to_install_it(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    assert main(["digits.cfg_baseline", "--study", "pytest_no_ray", "--backend", "ray", *FAST]) == 2
    assert "pip install 'skp[ray]'" in capsys.readouterr().err


def test_training_and_the_optuna_backend_import_nothing_from_ray():
    code = "import sys, skp.train, skp.tune.cli, skp.tune.worker, skp.ensemble.cli; sys.exit('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_schedulers_stop_no_trial_before_its_longest_schedule():
    from skp.configs import load_config
    from skp.tune.pruners import PrunerSettings, make_scheduler
    from skp.tune.ray_backend import longest_epochs
    from skp.tune.space import Int

    cfg = load_config("digits.cfg_baseline")
    assert longest_epochs(cfg, {}) == cfg.num_epochs
    assert longest_epochs(cfg, {"num_epochs": Int(2, 9)}) == 9
    assert list(make_scheduler("asha", "max", 9, PrunerSettings(warmup=1))._rungs) == [1, 3]
    assert list(make_scheduler("asha", "max", 9, PrunerSettings(warmup=1), folds=2)._rungs) == [1, 3, 9]  # one step per validation epoch of every fold
    with pytest.raises(SkpError, match="Did you mean 'hyperband'"):
        make_scheduler("hyperbnad", "max", 9)


def test_schedulers_take_the_pruner_settings_in_epochs():
    from skp.tune.pruners import PrunerSettings, make_scheduler

    # in the 0-based steps the Optuna backend reports: a warm-up of 2 epochs judges first at step 2
    asha = make_scheduler("asha", "min", 9, PrunerSettings(warmup=2, reduction=4))
    assert (asha._time_attr, asha._reduction, list(asha._rungs)) == ("step", 4, [2, 8])
    median = make_scheduler("median", "min", 9, PrunerSettings(warmup=2, startup=3))
    assert (median._time_attr, median._warmup, median._startup) == ("step", 2, 3)
    hyperband = make_scheduler("hyperband", "min", 9, PrunerSettings(warmup=2, reduction=3))
    assert (hyperband._time_attr, hyperband._min_resource, hyperband._reduction) == ("step", 2, 3)


def test_rungs_on_ray_decide_at_the_rung_lengths():
    """One report per complete schedule, its length as the time: the scheduler's rungs are
    the ones the Optuna backend uses, whatever the number of folds (from scratch a trial
    skips the last one below its length; its final report lands there, and a final
    report is never judged)."""
    from skp.tune.pruners import RUNG_EPOCHS, PrunerSettings, make_scheduler, rung_lengths

    rungs = make_scheduler("rungs", "min", 30, PrunerSettings(warmup=3, reduction=3), folds=5)
    assert rungs._time_attr == RUNG_EPOCHS
    assert list(rungs._rungs) == rung_lengths(3, 3, 30, continued=True)[:-1] == [3, 9, 27]


@pytest.fixture
def searcher():
    """A StudySearch on a fresh journal study, as run_ray builds it."""
    from skp.tune.run import open_study
    from skp.tune.ray_search import StudySearch

    args, tokens = build_parser().parse_known_args(["digits.cfg_baseline", "--study", f"pytest_search_{secrets.token_hex(3)}", "--backend", "ray"])
    options, space, cfg = prepare(args, tokens)
    study = open_study(options, cfg, space)
    search = StudySearch(options, space, "exp-1", make_sampler("random", 0, space), study._storage, "max")
    return search, options, space


def _result(step, val, objective, final, **extra):
    return {"val_metric": val, "objective": objective, "step": step, "fold": 0, "best_epoch": step,
            "final": final, "node_id": "node-a", "host": "host-a", "pid": 1, **extra}


def test_study_search_records_trials_like_the_optuna_backend(searcher, capsys):
    from skp.tune.ray_keys import BASELINE, IDENTITY, STUDY

    search, options, space = searcher
    params = {tid: search.suggest(tid) for tid in ("done", "stopped", "nan", "crashed")}
    assert set(params["done"]) == set(space) | set(IDENTITY) and params["done"][BASELINE] is False
    assert params["done"][STUDY] == options.study_name
    for step in (0, 1):
        search.on_trial_result("done", _result(step, 0.5 + step / 10, 0.5 + step / 10, final=step == 1))
    search.on_trial_complete("done", _result(1, 0.6, 0.6, final=True, done=True))
    search.on_trial_result("stopped", _result(0, 0.2, 0.2, final=False))
    search.on_trial_complete("stopped", _result(1, 0.1, 0.2, final=False, done=True))  # the scheduler's stop
    search.on_trial_complete("nan", {"val_metric": float("-inf"), "step": 0, "fail_reason": "val/accuracy was nan at epoch 0"})
    search.on_trial_complete("crashed", None, error=True)

    done, stopped, nan, crashed = load_study(options.study_name).trials
    assert done.state == TrialState.COMPLETE and done.value == pytest.approx(0.6)
    assert done.intermediate_values == {0: 0.5, 1: 0.6} and done.params == {k: v for k, v in params["done"].items() if k not in IDENTITY}
    assert done.user_attrs["node_id"] == "node-a" and done.user_attrs["best_epoch"] == 1
    assert done.user_attrs["run_id"] == f"{options.study_name}-trial0000"
    assert dict(done.user_attrs["overrides"])["optimizer_params.lr"] == done.params["optimizer_params.lr"]
    assert done.user_attrs["checkpoints"] == [str(Path(done.user_attrs["run_dir"]) / "fold0" / "best.pt")]
    assert stopped.state == TrialState.PRUNED and stopped.intermediate_values == {0: 0.2, 1: 0.1}
    assert nan.state == TrialState.FAIL and "nan" in nan.user_attrs["fail_reason"]
    assert crashed.state == TrialState.FAIL and "every retry" in crashed.user_attrs["fail_reason"]
    # no worker wrote these run directories: the warning for unshared --save_dir, once
    assert capsys.readouterr().err.count("is not on this machine") == 1


def test_a_retried_trial_keeps_its_first_intermediate_values(searcher):
    search, options, _ = searcher
    search.suggest("t")
    search.on_trial_result("t", _result(0, 0.3, 0.3, final=False))
    search.on_trial_result("t", _result(0, 0.9, 0.9, final=False))  # the worker died and started over
    assert load_study(options.study_name).trials[0].intermediate_values == {0: 0.3}


# ---- real Ray runs ---------------------------------------------------------------------------


def _skp_tune(*argv, env=None, **kwargs):
    return Logged(
        [sys.executable, "-m", "skp.tune.cli", "digits.cfg_baseline", *argv, "--no-export"],
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **(env or {})}, **kwargs,
    )


def _wait_for_first_epoch(name, seconds=150):
    """The first trial of the study that reports a validation epoch."""
    for _ in range(seconds * 2):
        time.sleep(0.5)
        trials = load_study(name).trials if (Path(os.environ["SKP_STUDIES_DIR"]) / name).exists() else []
        reported = [t for t in trials if t.intermediate_values]
        if reported:
            return reported[0]
    pytest.fail(f"no trial of {name} reported an epoch")


def _finish(process, timeout=300):
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out[-3000:]
    return out


@pytest.mark.slow
def test_a_local_ray_instance_trains_at_the_drivers_niceness():
    """Ray's default puts workers at nice + 15: beside other work, trials starved."""
    code = ("import os; os.nice(4); import ray; from skp.tune.ray_backend import start_ray; start_ray(ray, None); "
            "print(ray.get(ray.remote(lambda: os.nice(0)).remote()))")
    env = {k: v for k, v in os.environ.items() if k != "RAY_worker_niceness"}
    done = subprocess.run([sys.executable, "-c", code], env={**env, "RAY_USAGE_STATS_ENABLED": "0"},
                          capture_output=True, text=True, timeout=300)
    assert done.stdout.split()[-1:] == [str(os.nice(0) + 4)], done.stderr[-2000:]


@pytest.mark.slow
def test_local_ray_study_records_runs_and_a_rerun_adds_only_the_missing_trials():
    name = "pytest_ray_local"
    _finish(_skp_tune("--backend", "ray", "--study", name, "--trials", "3", *FAST))
    out = _finish(_skp_tune("--backend", "ray", "--study", name, "--trials", "4", *FAST))
    assert "1 trials" in out  # the second experiment ran only the missing trial
    study = load_study(name)
    assert len(study.trials) == 4
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)
    for trial in study.trials:
        run = Path(trial.user_attrs["run_dir"])
        assert (run / "run.json").exists() and trial.user_attrs["node_id"]
        assert Path(trial.user_attrs["checkpoints"][0]).exists()
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 4  # no re-proposed parameters
    experiments = sorted(p.name for p in (Path(os.environ["SKP_STUDIES_DIR"]) / name / "ray").iterdir())
    assert experiments == ["exp-1", "exp-2"]


@pytest.mark.slow
def test_rungs_on_ray_train_complete_schedules_and_record_them_like_optuna():
    name = "pytest_ray_rungs"
    _finish(_skp_tune("--backend", "ray", "--study", name, "--trials", "4", "--pruner", "rungs", "--pruner-warmup", "1",
                      "--reduction-factor", "2", *FAST), timeout=600)
    study = load_study(name)
    assert len(study.trials) == 4
    for trial in study.trials:
        steps = set(trial.intermediate_values)
        if trial.user_attrs.get("baseline"):
            assert steps == {2} and trial.state == TrialState.COMPLETE  # its own schedule only
        elif trial.state == TrialState.PRUNED:
            assert steps == {1} and set(trial.user_attrs["rungs"]) == {"1"}
        else:
            assert trial.state == TrialState.COMPLETE and steps == {1, 2} and set(trial.user_attrs["rungs"]) == {"1", "2"}
            assert trial.value == pytest.approx(trial.user_attrs["rungs"]["2"])
            history = pd.read_csv(Path(trial.user_attrs["run_dir"]) / "fold0" / "history.csv")
            assert history.epoch.max() + 1 == 2  # the last rung's complete schedule, trained from scratch


@pytest.mark.slow
def test_continued_rungs_on_ray_train_each_survivor_on_from_its_rung():
    name = "pytest_ray_rungs_continued"
    _finish(_skp_tune("--backend", "ray", "--study", name, "--trials", "4", "--pruner", "rungs-continued",
                      "--pruner-warmup", "1", "--reduction-factor", "2", *FAST), timeout=600)
    study = load_study(name)
    survivors = [t for t in study.trials if t.state == TrialState.COMPLETE and not t.user_attrs.get("baseline")]
    assert survivors and any(t.state == TrialState.PRUNED for t in study.trials)
    for trial in survivors:
        fold = Path(trial.user_attrs["run_dir"]) / "fold0"
        history = pd.read_csv(fold / "history.csv")
        assert list(history.epoch) == [0, 1]  # one history over both rungs
        # epoch 0 is rung 1's own epoch, which rung 2 continued (from scratch, rung 2's
        # first epoch would have trained under another schedule and scored otherwise)
        assert history["val/logloss"][0] == pytest.approx(trial.user_attrs["rungs"]["1"])
        assert set(trial.user_attrs["rungs"]) == {"1", "2"}
        assert trial.value == pytest.approx(trial.user_attrs["rungs"]["2"])
        assert not (fold / "resume.ckpt").exists()


@pytest.mark.slow
@pytest.mark.parametrize("pruner", [
    # per-epoch reports, as asha's; 16 batches, so that the loss falls and the median has something to judge
    ["--pruner", "median", "--pruner-warmup", "1", "--pruner-startup", "2", "--trials", "6", "--limit_train_batches", "16"],
    # one report per rung
    ["--pruner", "rungs-continued", "--pruner-warmup", "1", "--reduction-factor", "2", "--trials", "8", "--limit_train_batches", "4"],
], ids=["median", "rungs-continued"])
def test_a_pruned_study_on_ray_one_trial_at_a_time_is_the_optuna_backends_study(pruner):
    """Same seed, same proposals, same values, and the same trials pruned at the same
    steps (skp.tune.ray_schedulers): a default measured on one backend holds on both."""
    argv = [*pruner, "--num_epochs", "4", "--seed", "5", "--enable_progress_bar", "False"]
    one_thread = {"OMP_NUM_THREADS": "1"}  # as a Ray trial of one CPU: the same sums in the same order
    names = f"pytest_same_optuna_{pruner[1]}", f"pytest_same_ray_{pruner[1]}"
    _finish(_skp_tune("--study", names[0], *argv, env=one_thread), timeout=600)
    _finish(_skp_tune("--backend", "ray", "--max-concurrent", "1", "--cpus-per-trial", "1", "--study", names[1], *argv,
                      env=one_thread), timeout=600)
    studies = [load_study(name).trials for name in names]
    record = [[(t.params, t.state, t.value, t.intermediate_values) for t in trials] for trials in studies]
    assert record[0] == record[1]
    assert {TrialState.PRUNED, TrialState.COMPLETE} == {t.state for t in studies[0]}


@pytest.mark.slow
def test_a_raced_promotion_on_ray_stops_the_losers_round_by_round():
    from skp.tune import race
    from skp.tune.promote import promotion

    name = "pytest_ray_race"
    study = optuna.create_study(study_name=name, storage=make_storage(None, name), direction="minimize")
    for lr in (1e-2, 8e-3, 1e-3, 1.1e-3):  # one epoch of ten batches: the two large rates lose badly
        study.enqueue_trial({"num_epochs": 10, "optimizer_params.lr": lr, "optimizer_params.weight_decay": 1e-2})
    tiny = ["--trials", "5", "--num_epochs", "1", "--limit_train_batches", "10", "--pruner", "none", "--scheduler_params.warmup", "0"]
    _finish(_skp_tune("--study", name, *tiny))
    out = _finish(_skp_tune("--backend", "ray", "--study", name, *tiny, "--promote", "1", "--race", "4",
                            "--promote-folds", "0,1,2,3"), timeout=600)
    assert "race round: fold 1" in out and "race round: fold 3" in out
    record = promotion(load_study(name))
    stopped = race.stopped(record)
    assert stopped
    for number in record["trials"]:
        run_dir = Path(study.trials[number].user_attrs["run_dir"])
        finished = {f for f in record["folds"] if (run_dir / f"fold{f}" / "done.json").exists()}
        assert finished == ({0, 1, 2} if number in stopped else {0, 1, 2, 3})  # as on skp's own workers


@pytest.mark.slow
def test_promotion_on_ray_trains_the_missing_folds_as_ray_tasks():
    from skp.tune.promote import cv_records, promoted_numbers, promotion

    name = "pytest_ray_promote"
    _finish(_skp_tune("--study", name, "--trials", "3", *FAST, "--limit_val_batches", "2"))
    out = _finish(_skp_tune("--backend", "ray", "--study", name, "--promote", "2", "--promote-folds", "0,1", *FAST))
    study = load_study(name)
    promoted = promoted_numbers(promotion(study))  # the two, and the baseline unless it is one of them
    assert f"promotion on Ray: {len(promoted)} fold(s)" in out
    for number in promoted:
        assert (Path(study.trials[number].user_attrs["run_dir"]) / "fold1" / "done.json").is_file()
    assert sorted(cv_records(study)) == sorted(promoted)
    assert len(study.trials) == 3  # promotion adds no trial


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_a_stopped_driver_resumes_with_the_same_command_and_counts_each_trial_once(stop):
    name = f"pytest_ray_{stop.name}"
    argv = ["--backend", "ray", "--study", name, "--trials", "2", "--pruner", "none", "--max-concurrent", "2",
            "--num_epochs", "2", "--limit_train_batches", "8"]
    driver = _skp_tune(*argv)
    try:
        _wait_for_first_epoch(name)
    finally:
        # SIGINT: Ray saves the experiment; SIGKILL: no clean-up, Ray's processes share the driver's fate
        driver.send_signal(stop)
        out, _ = driver.communicate(timeout=120)
    assert driver.returncode == (130 if stop == signal.SIGINT else -signal.SIGKILL), out[-3000:]
    assert any(t.state == TrialState.RUNNING for t in load_study(name).trials)
    out = _finish(_skp_tune(*argv))
    if stop == signal.SIGINT:
        assert "resuming Ray experiment" in out
    study = load_study(name)
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 2, out[-3000:]
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    # a trial Ray restored finished as itself; one it never saved is failed with a reason
    assert all("fail_reason" in t.user_attrs for t in study.trials if t.state == TrialState.FAIL)
    assert len({t.user_attrs["run_id"] for t in finished}) == 2


@pytest.mark.slow
def test_a_trial_whose_worker_died_is_restarted_as_the_same_optuna_trial():
    name = "pytest_ray_worker_killed"
    driver = _skp_tune("--backend", "ray", "--study", name, "--trials", "1", "--pruner", "none",
                       "--num_epochs", "3", "--limit_train_batches", "10")
    try:
        killed = _wait_for_first_epoch(name).user_attrs["pid"]
        os.kill(killed, signal.SIGKILL)  # the Ray worker process training the trial
        out = _finish(driver)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.communicate()
    (trial,) = load_study(name).trials
    assert trial.state == TrialState.COMPLETE, out[-3000:]
    assert trial.user_attrs["pid"] != killed and sorted(trial.intermediate_values) == [0, 1, 2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _signal_group(process, sig):
    """A node that exited on its own (it failed to start, or a loaded machine lost it) has no group left to signal;
    the fixture must still stop the others and leave the test's own failure as the one reported."""
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


@pytest.fixture
def ray_cluster(tmp_path):
    """A head and a worker node started with `ray start`, as on two machines; stopped by process group."""
    port = _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--object-store-memory", str(100 * 2**20), "--block"]
    nodes, logs = [], []
    temp_dir = tempfile.mkdtemp(prefix="skp-ray-")

    def start(*argv):
        log = open(tmp_path / f"node{len(nodes)}.log", "w")
        logs.append(log)
        nodes.append(subprocess.Popen([str(Path(sys.executable).with_name("ray")), "start", *argv, *common],
                                      env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def wait_for_nodes(count):
        code = f"import ray; ray.init(address='127.0.0.1:{port}'); import sys; sys.exit(len([n for n in ray.nodes() if n['Alive']]) != {count})"
        for _ in range(20):
            if any(node.poll() is not None for node in nodes):
                break
            try:
                if subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=30).returncode == 0:
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(1)
        pytest.fail(f"the cluster never had {count} nodes: " + (tmp_path / f"node{len(nodes) - 1}.log").read_text()[-2000:])

    try:
        # a short path: Ray's socket paths under it must stay within 107 bytes
        start("--head", "--port", str(port), "--include-dashboard", "false", "--temp-dir", temp_dir)
        wait_for_nodes(1)
        start("--address", f"127.0.0.1:{port}")
        wait_for_nodes(2)
        yield f"127.0.0.1:{port}", env
    finally:
        for node in reversed(nodes):
            _signal_group(node, signal.SIGTERM)
        time.sleep(3)
        for node in reversed(nodes):
            _signal_group(node, signal.SIGKILL)  # what draining left behind
            node.wait()
        for log in logs:
            log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.slow
def test_trials_run_on_both_nodes_of_a_cluster(ray_cluster):
    address, env = ray_cluster
    name = "pytest_ray_cluster"
    argv = ["--backend", "ray", "--study", name, "--pruner", "none", "--cpus-per-trial", "1",
            "--num_epochs", "2", "--limit_train_batches", "10"]
    _finish(_skp_tune(*argv, "--address", address, "--trials", "4", env=env))
    study = load_study(name)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    assert len({t.user_attrs["node_id"] for t in study.trials}) == 2


@pytest.mark.slow
def test_a_nan_trial_fails_at_once_with_its_reason_and_is_not_retried():
    name = "pytest_ray_nan"
    _finish(_skp_tune("--backend", "ray", "--study", name, "--trials", "1", "--freeze", "optimizer_params.lr=1e12", *FAST))
    (trial,) = load_study(name).trials
    assert trial.state == TrialState.FAIL and "Training loss became" in trial.user_attrs["fail_reason"]
