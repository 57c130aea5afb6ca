"""Parallel workers: their own sampler streams, no repeated proposals, and a dead worker's
trial failed at once, retried, and its slot restarted."""

import os
import pickle
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from tests.processes import Logged
from tests.tune import load_study
from skp.tune.journal import FlockLock
from skp.tune.study import make_sampler, make_storage, sampler_seed
from skp.tune.trial import duplicate_of
from skp.tune.trial import process_alive

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
# tiny trials over a continuous space: learning rate and weight decay (num_epochs fixed)
TINY = ["--num_epochs", "1",
        "--limit_train_batches", "2", "--limit_val_batches", "2", "--enable_progress_bar", "False",
        "--pruner", "none", "--no-baseline", "--no-export"]


def test_worker_seeds_never_collide():
    seeds = {sampler_seed(42, w, n, "host") for w in range(8) for n in range(8)}
    assert len(seeds) == 64  # the old seed + worker + trials gave 15 distinct values here
    assert sampler_seed(42, 0, 3, "a") != sampler_seed(42, 0, 3, "b")  # other machines, same study
    assert sampler_seed(None, 1, 2, "a") is None


def test_tpe_lies_about_running_trials():
    assert make_sampler("tpe", 0, {})._constant_liar


def test_parallel_workers_lines_never_merge():
    # what each worker process does first, then the status lines they print at once
    script = ("import sys; from skp.tune.supervisor import write_whole_lines; write_whole_lines()\n"
              "for i in range(5000): print(f'worker {sys.argv[1]} line {i}', flush=True)")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # as in many containers: a print's text and newline written apart
    read, write = os.pipe()
    workers = [subprocess.Popen([sys.executable, "-c", script, name], stdout=write, env=env) for name in "AB"]
    os.close(write)
    with os.fdopen(read) as pipe:
        lines = pipe.read().splitlines()
    assert all(w.wait() == 0 for w in workers)
    assert len(lines) == 10000 and all(line.count("worker") == 1 for line in lines)


def test_a_zombie_worker_counts_as_dead():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    for _ in range(100):  # exited but not reaped: a zombie, which os.kill(pid, 0) still reaches
        time.sleep(0.05)
        with open(f"/proc/{child.pid}/stat") as stat:
            if stat.read().rpartition(")")[2].split()[0] == "Z":
                break
    assert not process_alive(child.pid)
    child.wait()
    assert not process_alive(child.pid) and process_alive(os.getpid())


def test_duplicate_of_finds_a_trial_with_the_same_parameters():
    study = optuna.create_study()
    first = study.ask()
    first.suggest_float("lr", 0.1, 1.0)
    study.tell(first, 1.0)
    study.enqueue_trial(first.params)
    twin = study.ask()
    twin.suggest_float("lr", 0.1, 1.0)
    assert duplicate_of(twin) == first.number
    other = study.ask({"lr": optuna.distributions.FloatDistribution(0.1, 1.0)})
    assert duplicate_of(other) is None


def test_a_worker_killed_holding_the_journal_lock_does_not_stall_the_others(tmp_path):
    journal = str(tmp_path / "journal.log")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from skp.tune.journal import FlockLock\n"
        f"FlockLock({journal!r}).acquire(); print('held', flush=True); time.sleep(60)"
    )], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    started = time.time()
    lock = FlockLock(journal)
    assert lock.acquire()
    lock.release()
    assert time.time() - started < 1  # Optuna's lock files waited 30 s for a dead holder
    storage = make_storage(journal, "s")
    optuna.create_study(study_name="s", storage=storage).optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert len(optuna.load_study(study_name="s", storage=make_storage(journal, "s")).trials) == 2
    copy = pickle.loads(pickle.dumps(lock))  # Ray pickles the study's storage
    assert copy.acquire()
    copy.release()



def _skp_tune(*argv):
    return Logged([sys.executable, "-m", "skp.tune.cli", "digits.cfg_baseline", *argv], env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})


@pytest.mark.slow
def test_eight_workers_propose_eight_distinct_points():
    name = "pytest_eight_workers"
    driver = _skp_tune("--study", name, "--trials", "8", "--workers", "8", *TINY)
    out, _ = driver.communicate(timeout=900)
    assert driver.returncode == 0, out[-3000:]
    trials = [t for t in load_study(name).trials if t.state == TrialState.COMPLETE]
    assert len(trials) == 8
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 8
    assert len({t.system_attrs["skp:pid"] for t in trials}) > 1


@pytest.mark.slow
def test_killed_workers_trials_are_retried_at_once_and_their_slots_restarted():
    name = "pytest_kill_two"
    # six epochs after TINY's one: long enough to be killed mid-trial
    driver = _skp_tune("--study", name, "--trials", "4", "--workers", "3", *TINY, "--num_epochs", "6")
    try:
        victims = {}
        for _ in range(1200):
            time.sleep(0.25)
            try:
                # mid-trial: a trial past its fifth epoch could finish before the kill lands
                running = [t for t in load_study(name).trials if t.state == TrialState.RUNNING and 0 < len(t.intermediate_values) < 5]
            except KeyError:
                continue  # the driver has not created the study yet
            if len(running) >= 2:
                victims = {t.number: t.system_attrs["skp:pid"] for t in running[:2]}
                break
        assert victims, "two workers never trained at once"
        for pid in victims.values():
            os.kill(pid, signal.SIGKILL)
        killed_at = time.time()
        while time.time() - killed_at < 30:
            states = {t.number: t.state for t in load_study(name).trials}
            if all(states[n] == TrialState.FAIL for n in victims):
                break
            time.sleep(0.2)
        noticed = time.time() - killed_at
        out, _ = driver.communicate(timeout=900)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0, out[-3000:]
    assert noticed < 5, f"the dead workers' trials stayed RUNNING for {noticed:.1f} s"
    trials = load_study(name).trials
    for number in victims:
        assert "killed by SIGKILL" in trials[number].user_attrs["fail_reason"]
        retry = next(t for t in trials if t.user_attrs.get("retry_of") == number)
        assert retry.state == TrialState.COMPLETE and retry.params == trials[number].params
    assert out.count("a new worker takes its slot") == 2, out[-3000:]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 4
    assert not [t for t in trials if t.state == TrialState.RUNNING]


@pytest.mark.slow
def test_workers_die_with_a_killed_driver_and_the_same_command_finishes():
    name = "pytest_kill_driver"
    # trials of 6 x 12 batches: an orphan would still be training when the check ends
    argv = ("--study", name, "--trials", "3", "--workers", "2", *TINY, "--num_epochs", "6", "--limit_train_batches", "12")
    driver = _skp_tune(*argv)
    workers = set()
    for _ in range(1200):
        time.sleep(0.25)
        try:
            running = [t for t in load_study(name).trials if t.state == TrialState.RUNNING and t.intermediate_values]
        except KeyError:
            continue  # the driver has not created the study yet
        if len(running) == 2:  # both workers mid-trial
            workers = {t.system_attrs["skp:pid"] for t in running}
            break
    assert workers, "two workers never trained at once"
    driver.kill()
    driver.wait()
    deadline = time.time() + 5
    while time.time() < deadline and any(process_alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not any(process_alive(pid) for pid in workers), "workers outlived their driver"
    again = _skp_tune(*argv)
    out, _ = again.communicate(timeout=900)
    assert again.returncode == 0, out[-3000:]
    trials = load_study(name).trials
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3
    assert not [t for t in trials if t.state == TrialState.RUNNING]
