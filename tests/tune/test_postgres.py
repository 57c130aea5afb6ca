"""The Optuna backend on a real PostgreSQL server: two skp-tune processes, one killed mid-trial.

The server is Debian's `postgresql` package (.ci/run installs it), started here on
127.0.0.1 in a temporary directory and stopped afterwards.
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.processes import Logged
from skp.tune.study import make_storage

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")]


def _server_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


@pytest.fixture(scope="module")
def postgres_url():
    bindir = _server_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (pg_ctl): install Debian's postgresql package, as .ci/run does")
    root = Path(tempfile.mkdtemp(prefix="skp-pg-"))
    as_root = os.geteuid() == 0  # the server refuses to run as root
    if as_root:
        shutil.chown(root, "postgres")

    def run(*command):
        prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        return subprocess.run([*prefix, str(bindir / command[0]), *command[1:]], check=True, capture_output=True, text=True)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    run("initdb", "-D", str(data), "-U", "skp", "--auth=trust")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    run("pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start")
    try:
        yield f"postgresql://skp@127.0.0.1:{port}/postgres"
    finally:
        run("pg_ctl", "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _worker(url, name, *extra):
    return Logged(
        [sys.executable, "-m", "skp.tune.cli", "digits.cfg_baseline", "--storage", url, "--study", name,
         "--trials", "4", "--pruner", "none", "--stale-after", "6", "--no-export", "--limit_train_batches", "4", *extra],
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )


def _wait_for(condition, what, seconds=240):
    for _ in range(int(seconds * 2)):
        if condition():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def test_two_processes_share_a_postgres_study_and_a_killed_workers_trial_is_retried(postgres_url):
    name = "pytest_postgres"
    storage = make_storage(postgres_url, name)  # one connection pool: polling must not open one per look

    # the victim trains 30 epochs, so it is surely mid-trial when killed
    victim = _worker(postgres_url, name, "--num_epochs", "30")
    survivor = None
    try:
        _wait_for(lambda: _has_study(storage, name) and any(t.intermediate_values for t in _study(storage, name).trials), "the victim's first epoch")
        survivor = _worker(postgres_url, name, "--num_epochs", "2")
        _wait_for(lambda: any(t.state == TrialState.COMPLETE for t in _study(storage, name).trials), "the survivor's first trial")
        doomed = next(t for t in _study(storage, name).trials if t.state == TrialState.RUNNING and t.intermediate_values)
        victim.send_signal(signal.SIGKILL)
        victim.communicate()
        out, _ = survivor.communicate(timeout=300)
        assert survivor.returncode == 0, out[-3000:]
    finally:
        for process in (victim, survivor):
            if process and process.poll() is None:
                process.kill()
                process.communicate()

    trials = _study(storage, name).trials
    killed = trials[doomed.number]
    assert killed.state == TrialState.FAIL  # the survivor found its process gone
    retry = next(t for t in trials if t.user_attrs.get("retry_of") == killed.number)
    assert retry.state == TrialState.COMPLETE and retry.params == killed.params
    assert "resumed_from" not in retry.user_attrs  # the survivor's flags differ (--num_epochs): it trains anew
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 4
    assert len({t.system_attrs["skp:pid"] for t in trials}) == 2  # both processes ran trials


def test_a_killed_command_on_postgres_resumes_its_trial_where_it_stopped(postgres_url):
    name = "pytest_postgres_resume"
    storage = make_storage(postgres_url, name)
    argv = ("--trials", "1", "--num_epochs", "8")
    victim = _worker(postgres_url, name, *argv)
    try:
        _wait_for(lambda: _has_study(storage, name) and any(len(t.intermediate_values) >= 2 for t in _study(storage, name).trials),
                  "two epochs of the victim's trial")
        victim.send_signal(signal.SIGKILL)
        victim.communicate()
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.communicate()
    out, _ = _worker(postgres_url, name, *argv).communicate(timeout=300)

    killed, retry = _study(storage, name).trials
    assert killed.state == TrialState.FAIL and retry.state == TrialState.COMPLETE, out[-3000:]
    assert retry.user_attrs["retry_of"] == killed.number and retry.user_attrs["resumed_from"] == killed.number
    assert retry.user_attrs["run_dir"] == killed.user_attrs["run_dir"]  # the epochs trained before the kill are kept
    assert all(retry.intermediate_values[step] == value for step, value in killed.intermediate_values.items())


def _study(storage, name):
    return optuna.load_study(study_name=name, storage=storage)


def _has_study(storage, name) -> bool:
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return False
    return True
