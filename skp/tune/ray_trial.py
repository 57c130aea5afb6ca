"""One Ray Tune trial: the same run directory and folds as an Optuna-backend trial.

Runs in a Ray worker process, possibly on another machine. It never touches the
study storage: everything the study records travels back in the reported results,
and the driver's StudySearch writes it.
"""

from __future__ import annotations

import os
import socket

import ray
from ray import tune

from skp.callbacks.run_artifacts import RunArtifacts
from skp.configs import load_config
from skp.configs.overrides import apply_overrides
from skp.errors import SkpError
from skp.training.folds import check_config
from skp.tune.pruners import pruner_named
from skp.tune.ray_keys import BASELINE, FINAL, IDENTITY, RUNG_EPOCHS, STEP, TRIAL_NUMBER
from skp.tune.trial import (
    FoldReporter,
    TrialFailed,
    fit_trial_folds,
    prepare_trial_dir,
    train_rungs,
    trial_run_id,
    trial_settings,
)

WORST = {"max": float("-inf"), "min": float("inf")}


def where() -> dict:
    """Node, host and process of this trial, recorded on the Optuna trial."""
    return {"node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(), "pid": os.getpid()}


class ReportToRay(FoldReporter):
    """Reports every validation epoch with `ray.tune.report`; Ray's scheduler decides
    whether the trial goes on, and stops the worker if not."""

    def __init__(self, monitor: str, step_offset: int, earlier_folds, fold: int, last_fold: bool, tags: dict):
        super().__init__(monitor, step_offset, earlier_folds)
        self.fold, self.last_fold, self.tags = fold, last_fold, tags

    def report(self, trainer, value, running_mean, step):
        artifacts = next(c for c in trainer.callbacks if isinstance(c, RunArtifacts))
        tune.report({
            "val_metric": running_mean,
            "objective": self.mean_with(artifacts.best_value),
            STEP: step,
            "fold": self.fold,
            "best_epoch": artifacts.best_epoch,
            # Ray marks a trial done alike whether it ended or its scheduler stopped it
            FINAL: self.last_fold and (trainer.current_epoch + 1 >= trainer.max_epochs or trainer.should_stop),
            **self.tags,
        })


def train_rungs_on_ray(cfg, options, directory, baseline: bool, tags: dict) -> None:
    """Rungs (skp.tune.pruners.Rungs): each complete schedule reported once, its length as
    the scheduler's time, so it decides at the rung lengths."""
    best_epochs = {}

    def on_progress(checkpoints, epochs):
        best_epochs.update(zip(options.folds, epochs))

    def on_rung(length, value, last):
        fold = options.folds[-1]
        tune.report({"val_metric": value, "objective": value, RUNG_EPOCHS: length, STEP: length, "fold": fold,
                     "best_epoch": best_epochs.get(fold), FINAL: last, **tags})

    train_rungs(cfg, options, directory, baseline, on_rung, on_progress)


def train(params: dict, options, cwd: str) -> None:
    """Ray Tune function trainable (options and cwd come through tune.with_parameters)."""
    if os.path.isdir(cwd):  # relative save and data paths mean what they meant to the driver
        os.chdir(cwd)
    number, baseline = params[TRIAL_NUMBER], params[BASELINE]
    params = {key: value for key, value in params.items() if key not in IDENTITY}  # the sampled ones
    cfg = load_config(options.config, options.overrides)
    apply_overrides(cfg, list(params.items()))
    settings = trial_settings(options, params)
    tags = where()  # every report says where it ran

    def make_reporter(monitor, step_offset, earlier_folds):
        index = len(earlier_folds)
        return ReportToRay(monitor, step_offset, earlier_folds, options.folds[index], index == len(options.folds) - 1, tags)

    try:
        check_config(cfg)
        directory = prepare_trial_dir(cfg, trial_run_id(options.study_name, number), settings, options.trainer_kwargs)
        if pruner_named(options.pruner).complete_schedules:
            train_rungs_on_ray(cfg, options, directory, baseline, tags)
        else:
            fit_trial_folds(cfg, options, directory, make_reporter)
    except (TrialFailed, SkpError) as err:
        # Reported rather than raised: Ray would retry an exception, and a NaN loss or a
        # bad config fails the same way every time. The worst value keeps schedulers sane.
        tune.report({"val_metric": WORST[cfg.val_track], "fail_reason": str(err), **tags})
