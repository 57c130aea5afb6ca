"""One trial: an ordinary skp run whose numbers are reported to Optuna as it trains."""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from contextlib import contextmanager

import lightning.pytorch as pl

from skp.configs import load_config
from skp.configs.overrides import apply_overrides
from skp.errors import SkpError
from skp.runs import config_fingerprint, prepare_run_dir
from skp.trainer import check_config, fit_fold
from skp.tune.space import suggest

# System attributes through which workers vouch for their running trials.
HOST, PID, HEARTBEAT = "skp:host", "skp:pid", "skp:heartbeat"


class TrialFailed(Exception):
    """The trial cannot produce a value (NaN metric, a crash); the study goes on."""


HEARTBEAT_SECONDS = 60.0


def beat(trial) -> None:
    trial.study._storage.set_trial_system_attr(trial._trial_id, HEARTBEAT, time.time())


@contextmanager
def heartbeat(trial, interval: float = HEARTBEAT_SECONDS):
    """Refresh the trial's heartbeat from a thread while it trains, however long an epoch."""
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


class ReportToTrial(pl.Callback):
    """Reports the monitored value after every validation epoch and prunes.

    Runs after RunArtifacts, so a pruned trial keeps the checkpoint and OOF file of
    its best epoch so far.
    """

    def __init__(self, trial, monitor: str, step_offset: int = 0, earlier_folds=()):
        self.trial, self.monitor, self.step_offset = trial, monitor, step_offset
        self.earlier_folds = list(earlier_folds)  # best values of the folds already trained

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        import optuna

        value = float(trainer.callback_metrics[self.monitor])
        epoch = trainer.current_epoch
        if not math.isfinite(value):
            raise TrialFailed(f"{self.monitor} was {value} at epoch {epoch}")
        running_mean = (sum(self.earlier_folds) + value) / (len(self.earlier_folds) + 1)
        self.trial.report(running_mean, step=self.step_offset + epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch} with {self.monitor}={value:.5g}")


def trial_config(trial, config_name: str, overrides: list, space: dict):
    """The trial's private config: CLI overrides, then the suggested parameters."""
    cfg = load_config(config_name, overrides)  # already a private copy
    params = suggest(trial, cfg, space)
    apply_overrides(cfg, list(params.items()))
    return cfg, params


def run_trial(trial, options, space: dict) -> float:
    """Optuna objective: train the trial's config on options.folds, return the mean best value."""
    try:
        with heartbeat(trial):
            return _train_trial(trial, options, space)
    except TrialFailed as err:
        trial.set_user_attr("fail_reason", str(err))
        raise


def _train_trial(trial, options, space: dict) -> float:
    storage = trial.study._storage
    storage.set_trial_system_attr(trial._trial_id, HOST, socket.gethostname())
    storage.set_trial_system_attr(trial._trial_id, PID, os.getpid())
    cfg, params = trial_config(trial, options.config, options.overrides, space)
    check_config(cfg)
    run_id = f"{options.study_name}-trial{trial.number:04d}"
    settings = list(options.overrides) + sorted(params.items())
    # absolute, so the dashboard and skp-ensemble find runs from any directory
    directory = prepare_run_dir(
        cfg, run_id, config_fingerprint(cfg, settings), overwrite=True, overrides=settings
    ).resolve()
    trial.set_user_attr("run_dir", str(directory))
    trial.set_user_attr("run_id", run_id)
    trial.set_user_attr("config_name", options.config)
    trial.set_user_attr("overrides", [[k, v] for k, v in settings])
    monitor = f"val/{cfg.val_metric}"
    best_values, checkpoints, best_epochs = [], [], []
    try:
        for i, fold in enumerate(options.folds):
            fold_cfg = cfg.copy()
            fold_cfg.fold = fold
            fold_dir = directory / f"fold{fold}"
            checkpoints.append(str(fold_dir / "best.pt"))
            trial.set_user_attr("checkpoints", checkpoints)
            reporter = ReportToTrial(trial, monitor, i * cfg.num_epochs, earlier_folds=best_values)
            summary = fit_fold(fold_cfg, fold_dir, options.trainer_kwargs, callbacks=[reporter], tuning=True)
            if summary["best_value"] is None:
                raise TrialFailed(f"{monitor} was never finite in fold {fold}")
            best_values.append(summary["best_value"])
            best_epochs.append(summary["best_epoch"])
            trial.set_user_attr("best_epoch", best_epochs if len(options.folds) > 1 else best_epochs[0])
    except SystemExit:
        raise KeyboardInterrupt from None  # Lightning's Ctrl-C exit; Optuna fails the trial
    except SkpError as err:
        raise TrialFailed(str(err)) from None
    return sum(best_values) / len(best_values)
