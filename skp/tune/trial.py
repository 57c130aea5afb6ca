"""One trial: an ordinary skp run whose numbers are reported to Optuna as it trains."""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import lightning.pytorch as pl

from skp.configs import load_config
from skp.configs.overrides import apply_overrides
from skp.errors import DISK_ERRORS, SkpError, disk_error_message
from skp.faults import reach
from skp.metrics import monitored
from skp.callbacks.run_artifacts import RESUME_FILE
from skp.training.runs import config_fingerprint, fold_state, prepare_run_dir, read_done, read_run_meta
from skp.training.folds import check_config, fit_fold
from skp.tune.baseline import BASELINE, is_baseline
from skp.tune.optuna_internals import copy_pruner_state, set_system_attr
from skp.tune.pruners import pruner_named, rung_lengths
from skp.tune.space import suggest
from skp.tune.study import MAX_RETRIES

# System attributes through which workers vouch for their running trials.
HOST, PID, HEARTBEAT = "skp:host", "skp:pid", "skp:heartbeat"


class TrialFailed(Exception):
    """The trial cannot produce a value (NaN metric, a crash); the study goes on."""


class DuplicateProposal(TrialFailed):
    """The sampler proposed the parameters of a trial that runs or ran; the worker asks again."""


def duplicate_of(trial) -> int | None:
    """The number of a queued, running or finished trial with `trial`'s parameters."""
    from optuna.trial import TrialState

    states = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
    for other in trial.study.get_trials(deepcopy=False, states=states):
        if other.number != trial.number and other.params == trial.params:
            return other.number
    return None


HEARTBEAT_SECONDS = 60.0  # at most: a shorter --stale-after gets 4 beats per stale period


def beat(trial) -> None:
    set_system_attr(trial, HEARTBEAT, time.time())


@contextmanager
def heartbeat(trial, stale_after: float):
    """Refresh the trial's heartbeat from a thread while it trains, however long an epoch,
    often enough that no worker counts it dead after `stale_after` seconds of silence."""
    interval = min(HEARTBEAT_SECONDS, stale_after / 4)
    stop = threading.Event()

    def loop():
        while not stop.wait(interval):
            beat(trial)

    beat(trial)
    thread = threading.Thread(target=loop, name="skp-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class FoldReporter(pl.Callback):
    """Turns each validation epoch into the value a scheduler compares across trials.

    With several folds, that value is the running mean: best values of the folds
    already trained plus the current fold's epoch value. Runs after RunArtifacts, so
    a stopped trial keeps the checkpoint and OOF file of its best epoch so far.
    """

    def __init__(self, monitor: str, step_offset: int = 0, earlier_folds=()):
        self.monitor, self.step_offset = monitor, step_offset
        self.earlier_folds = list(earlier_folds)  # best values of the folds already trained

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        value = float(trainer.callback_metrics[self.monitor])
        epoch = trainer.current_epoch
        if not math.isfinite(value):
            raise TrialFailed(f"{self.monitor} was {value} at epoch {epoch}")
        self.report(trainer, value, self.mean_with(value), self.step_offset + epoch)

    def mean_with(self, value: float) -> float:
        """Mean of the earlier folds' best values and this fold's `value`."""
        return (sum(self.earlier_folds) + value) / (len(self.earlier_folds) + 1)

    def report(self, trainer, value: float, running_mean: float, step: int) -> None:
        raise NotImplementedError


class ReportToTrial(FoldReporter):
    """Reports to an Optuna trial and prunes when its pruner says so, except at the
    trial's `last_step`: its compute is spent by then, and pruning it would only throw
    away a complete value (successive halving's top rung often falls there)."""

    def __init__(self, trial, monitor: str, step_offset: int = 0, earlier_folds=(), last_step: int | None = None):
        super().__init__(monitor, step_offset, earlier_folds)
        self.trial, self.last_step = trial, last_step

    def report(self, trainer, value, running_mean, step):
        import optuna

        self.trial.report(running_mean, step=step)
        if step == self.last_step or is_baseline(self.trial):
            return
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {trainer.current_epoch} with {self.monitor}={value:.5g}")


def trial_config(trial, config_name: str, overrides: list, space: dict):
    """The trial's private config: CLI overrides, then the suggested parameters (for the
    baseline trial, the config's own values, queued as fixed parameters)."""
    cfg = load_config(config_name, overrides)  # already a private copy
    params = suggest(trial, cfg, space, define_by_run=not is_baseline(trial))
    apply_overrides(cfg, list(params.items()))
    return cfg, params


def run_trial(trial, options, space: dict, refuse_duplicates: bool = False) -> float:
    """Optuna objective: train the trial's config on options.folds, return the mean best value.

    With `refuse_duplicates`, a sampled proposal that repeats another trial's parameters
    fails at once (DuplicateProposal) instead of training the same point twice; queued
    trials (the baseline, retries) are taken as they are.
    """
    try:
        with heartbeat(trial, options.stale_after):
            return _train_trial(trial, options, space, refuse_duplicates)
    except KeyboardInterrupt:
        trial.set_user_attr("fail_reason", "interrupted; the same command resumes it")
        queue_retry(trial.study, trial)
        raise
    except TrialFailed as err:
        trial.set_user_attr("fail_reason", str(err))
        raise
    except OSError as err:
        # a full disk fails this trial with the reason; the next trial (or the same command
        # again, once there is room) goes on. If even the journal cannot be written, the
        # command stops with the disk's message.
        if err.errno not in DISK_ERRORS:
            raise
        reason = disk_error_message(err)
        trial.set_user_attr("fail_reason", reason)
        raise TrialFailed(reason) from None


def trial_run_id(study_name: str, number: int) -> str:
    return f"{study_name}-trial{number:04d}"


def trial_settings(options, params: dict) -> list:
    """CLI overrides then suggested values: what rebuilds the trial's config later."""
    return list(options.overrides) + sorted(params.items())


def record_trial(trial, options, settings: list, directory) -> None:
    """The user attributes through which --report and skp-ensemble find a trial's run."""
    trial.set_user_attr("run_dir", str(directory))
    trial.set_user_attr("run_id", Path(directory).name)  # a retry's may be its dead attempt's (dead_attempt_dir)
    trial.set_user_attr("config_name", options.config)
    trial.set_user_attr("overrides", [[k, v] for k, v in settings])


def record_provenance(trial, directory) -> None:
    """The run's provenance (code, library versions, host, seed) on the trial, when its
    run.json is on this machine."""
    meta = read_run_meta(directory)
    if meta is not None:
        trial.set_user_attr("provenance", meta.get("provenance"))


def prepare_trial_dir(cfg, run_id: str, settings: list, trainer_kwargs: dict):
    # absolute, so the dashboard and skp-ensemble find runs from any directory
    fingerprint = config_fingerprint(cfg, settings)
    return prepare_run_dir(cfg, run_id, fingerprint, overwrite=True, overrides=settings, trainer_kwargs=trainer_kwargs).resolve()


def fit_trial_folds(cfg, options, directory, make_reporter, on_progress=None, keep_state: bool = False,
                    resumable: bool = False, rung: bool = False) -> float:
    """Train options.folds in turn into `directory`; return the mean of their best values.

    `make_reporter(monitor, step_offset, earlier_folds)` builds each fold's FoldReporter;
    `on_progress(checkpoints, best_epochs)` hears about each fold as it starts and ends.
    A fold already done is read, one with a resume.ckpt goes on from it; a `rung` of
    cfg.num_epochs epochs counts as done only a fold that ended a schedule of that length
    (fold_state). `keep_state` is fit_fold's (a continued rung); `resumable` keeps each
    epoch's state for a retry (dead_attempt_dir), which only the Optuna backend takes
    over: a trial Ray stops leaves no state behind.
    """
    monitor = monitored(cfg)
    best_values, checkpoints, best_epochs = [], [], []
    try:
        for i, fold in enumerate(options.folds):
            fold_cfg = cfg.copy()
            fold_cfg.fold = fold
            fold_dir = directory / f"fold{fold}"
            checkpoints.append(str(fold_dir / "best.pt"))
            if on_progress:
                on_progress(checkpoints, best_epochs)
            # a retry's folds left by its dead attempt (dead_attempt_dir), or a continued rung's
            state = fold_state(fold_dir, cfg.num_epochs if rung else None)
            if state == "done":
                summary = read_done(fold_dir)
            else:
                reporter = make_reporter(monitor, i * cfg.num_epochs, best_values)
                summary = fit_fold(fold_cfg, fold_dir, options.trainer_kwargs, callbacks=[reporter], tuning=True,
                                   resume=state == "resumable", keep_state=keep_state, save_state=resumable)
            if summary["best_value"] is None:
                raise TrialFailed(f"{monitor} was never finite in fold {fold}")
            best_values.append(summary["best_value"])
            best_epochs.append(summary["best_epoch"])
            if on_progress:
                on_progress(checkpoints, best_epochs)
    except SkpError as err:
        raise TrialFailed(str(err)) from None
    return sum(best_values) / len(best_values)


class EpochChecks(FoldReporter):
    """Reports nothing per epoch (a rung reports once, at the end of its schedule); still
    fails the trial on a value that is not finite."""

    def report(self, trainer, value, running_mean, step):
        pass


def drop_resume_files(directory: Path, folds) -> None:
    """A pruned or failed trial's folds keep their best weights only."""
    for fold in folds:
        (directory / f"fold{fold}" / RESUME_FILE).unlink(missing_ok=True)


def train_rungs(cfg, options, directory, baseline: bool, on_rung, on_progress=None, resumable: bool = False,
                passed=()) -> float:
    """The trial's rungs (skp.tune.pruners.Rungs): a complete schedule of each rung's length,
    from scratch, or continued from the previous rung's end (ContinuedRungs);
    `on_rung(length, value, last)` hears each rung's value and stops the trial if its
    pruner says so. The last rung is the trial's own length (the baseline's only).
    A retry skips the rungs its dead attempt `passed` (their lengths): the pruner let
    them through, and its folds are at the next rung's start, or in it (`resumable`
    keeps each epoch's state, as fit_trial_folds)."""
    settings = options.pruner_settings
    continued = pruner_named(options.pruner).continues
    lengths = [cfg.num_epochs] if baseline else rung_lengths(settings.warmup, settings.reduction, cfg.num_epochs, continued)
    try:
        for length in lengths:
            last = length == lengths[-1]
            if length in passed and not last:
                continue
            rung_cfg = cfg.copy()
            rung_cfg.num_epochs = length
            # a shorter rung's folds go on from its kept state (continued), or start anew
            value = fit_trial_folds(rung_cfg, options, directory, EpochChecks, on_progress,
                                    keep_state=continued and not last, resumable=resumable, rung=True)
            on_rung(length, value, last)
    finally:  # finished or pruned, a trial keeps its best weights only
        drop_resume_files(directory, options.folds)
    return value


def fit_rungs(trial, cfg, options, directory, on_progress) -> float:
    """Rungs on Optuna: each rung's value reported at step = its length."""
    import optuna

    def on_rung(length, value, last):
        trial.report(value, step=length)
        trial.set_user_attr("rungs", {**trial.user_attrs.get("rungs", {}), str(length): value})
        if not last and trial.should_prune():
            raise optuna.TrialPruned(f"pruned after the {length}-epoch rung with {monitored(cfg)}={value:.5g}")

    passed = {int(length) for length in trial.user_attrs.get("rungs", {})}  # a retry's, from dead_attempt_dir
    return train_rungs(cfg, options, directory, is_baseline(trial), on_rung, on_progress, resumable=True, passed=passed)


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs; a zombie (dead, not yet reaped by its parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True  # no /proc (macOS): the signal check is all there is


def queue_retry(study, trial) -> None:
    """Queue `trial`'s parameters once more (up to MAX_RETRIES times): the retry takes
    over what it trained (dead_attempt_dir)."""
    retries = trial.user_attrs.get("retries", 0)
    if retries < MAX_RETRIES:
        kept = {k: v for k, v in trial.user_attrs.items() if k == BASELINE}
        study.enqueue_trial(trial.params, user_attrs={**kept, "retry_of": trial.number, "retries": retries + 1})


def dead_attempt_dir(trial, fingerprint: str) -> Path | None:
    """The run directory a retry (user attribute `retry_of`) goes on in: its dead
    attempt's, when that trained the same config and overrides (run.json's fingerprint)
    and left a reported value, a finished fold or a resume.ckpt, and its process, on this
    host, is gone (a worker on another host that only missed its heartbeats may still be
    writing there). The retry reports the attempt's values (and rungs) again and resumes
    its unfinished fold, so a killed study loses the epoch in flight, not the trial;
    nothing moves, so a finished fold stays where it was written."""
    number = trial.user_attrs.get("retry_of")
    if number is None:
        return None
    dead = trial.study.get_trials(deepcopy=False)[number]
    if dead.system_attrs.get(HOST) != socket.gethostname() or process_alive(dead.system_attrs.get(PID, os.getpid())):
        return None
    directory = Path(dead.user_attrs.get("run_dir", ""))
    meta = read_run_meta(directory)
    if not meta or meta.get("fingerprint") != fingerprint:
        return None
    if not dead.intermediate_values and all(fold_state(f) == "new" for f in directory.glob("fold*") if f.is_dir()):
        return None
    for step, value in sorted(dead.intermediate_values.items()):
        trial.report(value, step=step)
    copy_pruner_state(dead, trial)
    if "rungs" in dead.user_attrs:
        trial.set_user_attr("rungs", dead.user_attrs["rungs"])
    trial.set_user_attr("resumed_from", number)
    return directory


def _train_trial(trial, options, space: dict, refuse_duplicates: bool = False) -> float:
    set_system_attr(trial, HOST, socket.gethostname())
    set_system_attr(trial, PID, os.getpid())
    cfg, params = trial_config(trial, options.config, options.overrides, space)
    queued = is_baseline(trial) or "retry_of" in trial.user_attrs
    if refuse_duplicates and not queued and (twin := duplicate_of(trial)) is not None:
        trial.set_user_attr("duplicate_of", twin)
        raise DuplicateProposal(f"its parameters repeat trial {twin}'s; the sampler is asked again")
    check_config(cfg)
    settings = trial_settings(options, params)
    rungs = pruner_named(options.pruner).complete_schedules
    resumed = dead_attempt_dir(trial, config_fingerprint(cfg, settings))
    directory = resumed or prepare_trial_dir(cfg, trial_run_id(options.study_name, trial.number), settings, options.trainer_kwargs)
    record_trial(trial, options, settings, directory)
    record_provenance(trial, directory)

    def on_progress(checkpoints, best_epochs):
        trial.set_user_attr("checkpoints", checkpoints)
        if best_epochs:
            trial.set_user_attr("best_epoch", best_epochs if len(options.folds) > 1 else best_epochs[0])

    def make_reporter(monitor, step_offset, earlier_folds):
        return ReportToTrial(trial, monitor, step_offset, earlier_folds, last_step=len(options.folds) * cfg.num_epochs - 1)

    try:
        if rungs:
            value = fit_rungs(trial, cfg, options, directory, on_progress)
        else:
            value = fit_trial_folds(cfg, options, directory, make_reporter, on_progress, resumable=True)
    except (SystemExit, KeyboardInterrupt):  # Ctrl-C (Lightning exits): run_trial queues the trial again
        raise KeyboardInterrupt from None
    except Exception:  # pruned or failed: never resumed
        drop_resume_files(directory, options.folds)
        raise
    reach("trial end")
    return value
