"""A tuning worker: runs trials until the study holds the requested number of finished ones."""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import time

from skp.tune.progress import trial_line
from skp.tune.optuna_internals import fail_trial, storage_of, trial_by_id, trial_id
from skp.tune.pruners import make_pruner
from skp.tune.study import import_optuna, make_sampler, make_storage, sampler_seed
from skp.tune.warm_start import with_observations
from skp.tune.trial import HEARTBEAT, HOST, PID, TrialFailed, process_alive, queue_retry, run_trial

POLL_SECONDS = 2.0  # how often an idle worker looks whether others' trials finished or died
MAX_RESAMPLES = 3  # a proposal repeating another trial's parameters is asked again this often


def fail_and_retry(study, trial, reason: str) -> bool:
    """Fail a RUNNING trial with `reason` and queue its parameters once more (up to
    MAX_RETRIES times); False when another process finished it first."""
    optuna = import_optuna()
    try:
        fail_trial(study, trial, reason)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    queue_retry(study, trial)
    return True


def fail_stale_trials(study, stale_after: float) -> list[int]:
    """Fail RUNNING trials whose worker is gone, and queue each once more.

    A worker is gone when its heartbeat (refreshed every minute) is older than
    `stale_after` seconds, or at once when it ran on this host and its process is gone.
    """
    from optuna.trial import TrialState

    host, failed = socket.gethostname(), []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = trial.system_attrs
        beat = attrs.get(HEARTBEAT, trial.datetime_start.timestamp() if trial.datetime_start else time.time())
        process_gone = attrs.get(HOST) == host and PID in attrs and (attrs[PID] == os.getpid() or not process_alive(attrs[PID]))
        if not (process_gone or time.time() - beat > stale_after):
            continue
        if fail_and_retry(study, trial, "its worker died (process gone or no heartbeat)"):
            failed.append(trial.number)
    return failed


def fail_trials_of(study, pid: int, reason: str) -> list[int]:
    """Fail (and queue again) the RUNNING trials of worker process `pid` on this host."""
    from optuna.trial import TrialState

    host, failed = socket.gethostname(), []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.system_attrs.get(HOST) == host and trial.system_attrs.get(PID) == pid:
            if fail_and_retry(study, trial, reason):
                failed.append(trial.number)
    return failed


def fail_dead_trials(study, stale_after: float) -> None:
    """skp's heartbeat attributes on every storage: a trial whose process on this host is
    gone fails at once, and its retry (`retry_of`) takes over what it trained. RDB
    storage also keeps Optuna's heartbeat table, checked after."""
    optuna = import_optuna()
    fail_stale_trials(study, stale_after)
    if not isinstance(storage_of(study), optuna.storages.JournalStorage):
        optuna.storages.fail_stale_trials(study)  # its RetryHeartbeatStaleTrialCallback queues the retry


def finished_and_running(study) -> tuple[int, int]:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))
    running = sum(t.state == TrialState.RUNNING for t in trials)
    return len(trials) - running, running


def without_sanity_check(options):
    """Once a trial has validated, Lightning's sanity check (two validation batches before
    training, to catch a broken validation loop early) has nothing left to find in later
    trials of the same config; a --num_sanity_val_steps given on the command line wins."""
    if "num_sanity_val_steps" in options.trainer_kwargs:
        return options
    return dataclasses.replace(options, trainer_kwargs={**options.trainer_kwargs, "num_sanity_val_steps": 0})


def run_one(study, options, space: dict, refuse_duplicates: bool):
    """One trial of the sampler's (or the queue's); returns it as it ended."""
    started = []

    def objective(trial):
        started.append(trial_id(trial))
        return run_trial(trial, options, space, refuse_duplicates)

    study.optimize(objective, n_trials=1, catch=(TrialFailed,))
    # not study.trials[-1]: with other workers, the newest trial may be theirs
    return trial_by_id(study, started[0])


def run_worker(options, space: dict, worker_index: int = 0) -> int:
    """Run trials until `options.trials` have finished (complete or pruned); return how many ran here."""
    optuna = import_optuna()
    from optuna.trial import TrialState

    storage = make_storage(options.storage, options.study_name, options.stale_after)
    study = optuna.load_study(study_name=options.study_name, storage=storage)
    # Workers, and re-runs of the command, must not propose the same parameters again.
    seed = sampler_seed(options.seed, worker_index, len(study.trials), socket.gethostname())
    study.sampler = with_observations(study, make_sampler(options.sampler, seed, space, options.constant_liar))
    study.pruner = make_pruner(options.pruner, options.pruner_settings)
    started = time.time()
    deadline = None if options.timeout is None else started + options.timeout
    metric = (study.metric_names or ["value"])[0]
    ran, failures_in_a_row, resampled = 0, 0, 0
    while deadline is None or time.time() < deadline:
        fail_dead_trials(study, options.stale_after)
        finished, running = finished_and_running(study)
        if finished >= options.trials:
            break
        if finished + running >= options.trials:
            # the study is complete unless a running trial dies; then its retry needs a worker
            time.sleep(POLL_SECONDS)
            continue
        last = run_one(study, options, space, refuse_duplicates=resampled < MAX_RESAMPLES)
        if "duplicate_of" in last.user_attrs:
            resampled += 1  # asked again at once; after MAX_RESAMPLES the repeat is accepted
            continue
        ran, resampled = ran + 1, 0
        print(trial_line(study, last, options.trials, started, metric), flush=True)
        failures_in_a_row = failures_in_a_row + 1 if last.state == TrialState.FAIL else 0
        if last.state in (TrialState.COMPLETE, TrialState.PRUNED):
            options = without_sanity_check(options)
        if failures_in_a_row >= options.max_failures:
            # Failed trials do not count towards --trials, so a config that fails every
            # trial would otherwise keep this worker busy forever.
            print(
                f"skp-tune: worker {worker_index} stops after {failures_in_a_row} failed trials in a row; "
                f"last reason: {last.user_attrs.get('fail_reason', 'see the log above')}",
                file=sys.stderr,
            )
            break
    return ran


def run_promotion_worker(options) -> int:
    """A worker process of the promotion phase: the promotion's missing folds, shared
    with the other slots through each fold's lock."""
    from skp.tune.promote import train_missing_folds

    study = import_optuna().load_study(study_name=options.study_name, storage=make_storage(options.storage, options.study_name))
    return train_missing_folds(study)
