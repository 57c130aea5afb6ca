"""A tuning worker: runs trials until the study holds the requested number of finished ones."""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import time

from skp.tune.baseline import BASELINE
from skp.tune.study import MAX_RETRIES, import_optuna, make_pruner, make_sampler, make_storage
from skp.tune.trial import HEARTBEAT, HOST, PID, TrialFailed, run_trial

POLL_SECONDS = 2.0  # how often an idle worker looks whether others' trials finished or died


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_stale_trials(study, stale_after: float) -> list[int]:
    """Fail RUNNING trials whose worker is gone, and queue each once more.

    A worker is gone when its heartbeat (refreshed every minute) is older than
    `stale_after` seconds, or at once when it ran on this host and its process is gone.
    Storage with Optuna's own heartbeat (RDB) does this itself.
    """
    optuna = import_optuna()
    from optuna.trial import TrialState

    storage, host, failed = study._storage, socket.gethostname(), []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = trial.system_attrs
        beat = attrs.get(HEARTBEAT, trial.datetime_start.timestamp() if trial.datetime_start else time.time())
        process_gone = attrs.get(HOST) == host and PID in attrs and (attrs[PID] == os.getpid() or not _alive(attrs[PID]))
        if not (process_gone or time.time() - beat > stale_after):
            continue
        try:
            # the reason first: attributes of a finished trial cannot change
            storage.set_trial_user_attr(trial._trial_id, "fail_reason", "its worker died (process gone or no heartbeat)")
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker got there first
        retries = trial.user_attrs.get("retries", 0)
        if retries < MAX_RETRIES:
            kept = {k: v for k, v in trial.user_attrs.items() if k == BASELINE}
            study.enqueue_trial(trial.params, user_attrs={**kept, "retry_of": trial.number, "retries": retries + 1})
        failed.append(trial.number)
    return failed


def fail_dead_trials(study, stale_after: float) -> None:
    """Journal storage: skp's heartbeat attributes; RDB storage: Optuna's heartbeat table."""
    optuna = import_optuna()
    if isinstance(study._storage, optuna.storages.JournalStorage):
        fail_stale_trials(study, stale_after)
    else:
        optuna.storages.fail_stale_trials(study)  # its RetryFailedTrialCallback queues the retry


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


def run_worker(options, space: dict, worker_index: int = 0) -> int:
    """Run trials until `options.trials` have finished (complete or pruned); return how many ran here."""
    optuna = import_optuna()
    from optuna.trial import TrialState

    storage = make_storage(options.storage, options.study_name, options.stale_after)
    study = optuna.load_study(study_name=options.study_name, storage=storage)
    # Workers, and re-runs of the command, must not propose the same parameters again.
    seed = None if options.seed is None else options.seed + worker_index + len(study.trials)
    study.sampler = make_sampler(options.sampler, seed, space)
    study.pruner = make_pruner(options.pruner)
    deadline = None if options.timeout is None else time.time() + options.timeout
    ran, failures_in_a_row = 0, 0
    while deadline is None or time.time() < deadline:
        fail_dead_trials(study, options.stale_after)
        finished, running = finished_and_running(study)
        if finished >= options.trials:
            break
        if finished + running >= options.trials:
            # the study is complete unless a running trial dies; then its retry needs a worker
            time.sleep(POLL_SECONDS)
            continue
        study.optimize(
            lambda trial: run_trial(trial, options, space),
            n_trials=1,
            catch=(TrialFailed,),
        )
        ran += 1
        last = study.trials[-1]
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
