"""StudySearch: Ray Tune's OptunaSearch, recording trials as the Optuna backend does.

Parameters come from the same define-by-run translation (skp.tune.space.suggest), and
each Optuna trial gets the same user attributes (run_dir, run_id, config_name,
overrides, checkpoints, best_epoch, fail_reason) plus where it ran (node_id, host, pid), so
--report, the dashboard and skp-ensemble's Study members read either backend alike.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from ray.tune.search.optuna import OptunaSearch

from skp.training.runs import run_dir
from skp.tune.optuna_internals import set_system_attr
from skp.tune.baseline import is_baseline
from skp.tune.ray_keys import BASELINE, FINAL, RUNG_EPOCHS, STEP, STUDY, TRIAL_NUMBER
from skp.tune.trial import record_provenance, record_trial, trial_config, trial_run_id, trial_settings

EXPERIMENT = "skp:ray_experiment"  # system attribute: the Ray experiment that owns a trial


class DefineByRun:
    """Suggests one trial's parameters and records its run on the Optuna trial (in the driver)."""

    def __init__(self, options, space: dict, experiment: str):
        self.options, self.space, self.experiment = options, space, experiment

    def __call__(self, trial) -> dict:
        options = self.options
        cfg, params = trial_config(trial, options.config, options.overrides, self.space)
        directory = run_dir(cfg, trial_run_id(options.study_name, trial.number)).resolve()
        record_trial(trial, options, trial_settings(options, params), directory)
        trial.set_user_attr("checkpoints", [str(directory / f"fold{f}" / "best.pt") for f in options.folds])
        set_system_attr(trial, EXPERIMENT, self.experiment)
        return {STUDY: options.study_name, TRIAL_NUMBER: trial.number, BASELINE: is_baseline(trial)}


class StudySearch(OptunaSearch):
    """Writes what workers report into the study.

    Intermediate values are the per-epoch running means, as the Optuna backend reports
    them. A trial's value is its mean best value. A trial the scheduler stopped is
    PRUNED, one that reported a failure is FAIL with its reason.
    """

    def __init__(self, options, space: dict, experiment: str, sampler, storage, mode: str):
        super().__init__(
            space=DefineByRun(options, space, experiment),
            metric="val_metric",
            mode=mode,
            sampler=sampler,
            study_name=options.study_name,
            storage=storage,
        )
        self.multiple_folds = len(options.folds) > 1
        self._places, self._best_epochs, self._reported = {}, {}, {}
        self._warned_unshared = False

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is not None and trial_id not in self._completed_trials:
            self._record(trial_id, ot_trial, result)

    def _record(self, trial_id: str, ot_trial, result: dict) -> None:
        if "fail_reason" in result or STEP not in result:
            return
        step = result[STEP]
        # a retried trial starts over; Optuna keeps the first value of a step
        if step not in self._reported.setdefault(trial_id, set()):
            self._reported[trial_id].add(step)
            ot_trial.report(result["val_metric"], step)
            if RUNG_EPOCHS in result:  # as the Optuna backend records rungs
                ot_trial.set_user_attr("rungs", {**ot_trial.user_attrs.get("rungs", {}), str(step): result["val_metric"]})
        place = {"node_id": result["node_id"], "host": result["host"], "pid": result["pid"]}
        if self._places.get(trial_id) != place:
            self._places[trial_id] = place
            for key, value in place.items():
                ot_trial.set_user_attr(key, value)
        self._best_epochs.setdefault(trial_id, {})[result["fold"]] = result["best_epoch"]

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None or trial_id in self._completed_trials:
            return
        from optuna.trial import TrialState

        self._completed_trials.add(trial_id)
        if result:  # Ray passes the result on which its scheduler stopped a trial only here
            self._record(trial_id, ot_trial, result)
        best_epochs = list(self._best_epochs.get(trial_id, {}).values())
        if best_epochs:
            ot_trial.set_user_attr("best_epoch", best_epochs if self.multiple_folds else best_epochs[0])
        record_provenance(ot_trial, ot_trial.user_attrs["run_dir"])
        value, state = None, TrialState.FAIL
        if result and "fail_reason" in result:
            ot_trial.set_user_attr("fail_reason", result["fail_reason"])
        elif error:
            ot_trial.set_user_attr("fail_reason", "its Ray worker raised or died, and so did every retry (see the Ray log)")
        elif not result or "objective" not in result:
            ot_trial.set_user_attr("fail_reason", "the experiment stopped before this trial reported")
        elif result.get(FINAL):
            value, state = result["objective"], TrialState.COMPLETE
        else:
            state = TrialState.PRUNED  # the scheduler stopped it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna's experimental-feature notes
            self._ot_study.tell(ot_trial, value, state=state)
        if state != TrialState.FAIL:
            self._check_shared(ot_trial)

    def _check_shared(self, ot_trial) -> None:
        directory = ot_trial.user_attrs["run_dir"]
        if self._warned_unshared or Path(directory).is_dir():
            return
        self._warned_unshared = True
        print(
            f"skp-tune: trial {ot_trial.number} ran on {ot_trial.user_attrs.get('host')} and its run directory "
            f"{directory} is not on this machine. The study records its values and parameters, but "
            f"skp-ensemble cannot use such runs until their directories are copied here. "
            f"Put --save_dir on storage every node mounts at the same path.",
            file=sys.stderr,
        )
