"""skp's Ray schedulers: Optuna's pruners' rules on Ray, so that a study keeps the same
trials on both backends and one measurement of a default holds for both
(tests/tune/test_ray_schedulers.py replays random studies through both).

Ray's own schedulers decide otherwise. Its ASHA keeps a trial whose value beats the
(1 - 1/R) percentile, interpolated, of the values recorded at the rung before it, at
rungs of (W + 1) x R^k iterations. Optuna's SuccessiveHalvingPruner keeps it when it is
among the best max(1, n // R) of the n values at the rung, its own included, at W x R^k
0-based steps: with a third trial at a rung and R = 3, ASHA keeps one between the other
two, Optuna only a new best. Ray's median stopping rule compares a trial's best value
with the median of the running means of every other trial that got as far; Optuna's
median pruner with the median of the completed trials' values at the same step. Ray's
HyperBand fills its brackets in turn; Optuna's draws each trial's bracket from the study's
name and the trial's number.

They read what skp's Ray trials report (skp.tune.ray_trial): the step the Optuna backend
reports at, or a rung's length, and `final` on a trial's last report, where the Optuna
backend does not ask its pruner; and from the trial's config (skp.tune.ray_keys) its
study, number, and whether it is the baseline, which the Optuna backend never prunes.
"""

from __future__ import annotations

import binascii
import math
import pickle

import numpy as np
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from skp.tune.ray_keys import BASELINE, FINAL, STUDY, TRIAL_NUMBER


class OptunaRule(FIFOScheduler):
    """What the rules share: the result keys they read and save/restore (the driver's
    checkpoint keeps their records, as it does ASHA's)."""

    def __init__(self, time_attr: str, metric: str, mode: str):
        super().__init__()
        self._time_attr, self._metric, self._mode = time_attr, metric, mode

    def reports(self, result: dict) -> bool:
        return self._time_attr in result and self._metric in result

    @staticmethod
    def is_baseline(trial) -> bool:
        return bool(trial.config[BASELINE])

    def save(self, checkpoint_path: str):
        with open(checkpoint_path, "wb") as out:
            pickle.dump(self.__dict__, out)

    def restore(self, checkpoint_path: str):
        with open(checkpoint_path, "rb") as saved:
            self.__dict__.update(pickle.load(saved))


def promotable(values: list, value: float, reduction: int) -> bool:
    """Optuna's rule, larger values better: `value` is among the best max(1, n // R) of
    the n `values` at the rung (its own among them)."""
    keep = max(1, len(values) // reduction)
    return value >= sorted(values, reverse=True)[keep - 1]


class SuccessiveHalving(OptunaRule):
    """Asynchronous successive halving over rungs at grace_period x R^k (below max_t) of
    `time_attr`: a trial's report at or past a rung it has not passed is recorded there
    and judged against every value recorded there before. Final and baseline reports are
    neither judged nor recorded, as on the Optuna backend, whose pruner records a rung's
    value only when asked."""

    def __init__(self, time_attr: str, metric: str, mode: str, grace_period: int, reduction_factor: int, max_t: int):
        super().__init__(time_attr, metric, mode)
        self._sign = 1 if mode == "max" else -1
        self._reduction = reduction_factor
        self._rungs: dict[int, dict] = {}  # rung -> {trial id: value}
        rung = grace_period
        while rung < max_t:
            self._rungs[rung] = {}
            rung *= reduction_factor

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        if not self.reports(result) or result.get(FINAL) or self.is_baseline(trial):
            return TrialScheduler.CONTINUE
        value = self._sign * result[self._metric]
        for rung, recorded in self._rungs.items():
            if rung > result[self._time_attr] or trial.trial_id in recorded:
                continue
            if math.isnan(value):  # at a rung only, as Optuna's pruner
                return TrialScheduler.STOP
            recorded[trial.trial_id] = value
            if not promotable(list(recorded.values()), value, self._reduction):
                return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def debug_string(self) -> str:
        return "Successive halving (Optuna's rule): " + ", ".join(f"rung {r}: {len(v)} trials" for r, v in self._rungs.items())


class MedianRule(OptunaRule):
    """Optuna's median pruner: from step `warmup` on, once `startup` trials have completed
    (the baseline among them), a trial stops when its best value so far is worse than
    the median of the completed trials' values at its step. A trial completes with its
    final report."""

    def __init__(self, time_attr: str, metric: str, mode: str, warmup: int, startup: int):
        super().__init__(time_attr, metric, mode)
        self._warmup, self._startup = warmup, startup
        self._values: dict[str, dict] = {}  # trial id -> {step: value}
        self._completed: list[str] = []

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        if not self.reports(result):
            return TrialScheduler.CONTINUE
        step = result[self._time_attr]
        values = self._values.setdefault(trial.trial_id, {})
        values.setdefault(step, result[self._metric])  # a restarted trial reports again; Optuna keeps the first
        if result.get(FINAL):
            self._completed.append(trial.trial_id)
            return TrialScheduler.CONTINUE
        if self.is_baseline(trial) or step < self._warmup or not self._completed or len(self._completed) < self._startup:
            return TrialScheduler.CONTINUE
        seen = [v for v in values.values() if not math.isnan(v)]
        if not seen:
            return TrialScheduler.STOP
        at_step = [self._values[t][step] for t in self._completed if step in self._values[t]]
        if not at_step:
            return TrialScheduler.CONTINUE
        median = float(np.nanpercentile(np.array(at_step, dtype=float), 50))  # as Optuna computes it, to the last bit
        if self._mode == "max":
            return TrialScheduler.STOP if max(seen) < median else TrialScheduler.CONTINUE
        return TrialScheduler.STOP if min(seen) > median else TrialScheduler.CONTINUE

    def debug_string(self) -> str:
        return f"Median rule (Optuna's): {len(self._completed)} completed trials"


class Hyperband(OptunaRule):
    """Optuna's HyperbandPruner: successive halving in brackets whose first rungs are
    min_resource x R^b, b = 0, 1, ...; a trial's bracket is drawn from the CRC-32 of
    "<study>_<trial number>" in proportion to Hyperband's trial allocation, and a trial
    competes with its bracket's trials only. The brackets are set up at the first report
    judged after a trial completed: the largest resource is the longest completed trial's
    last step + 1 (Optuna's max_resource "auto"). Until then no trial is judged or
    recorded."""

    def __init__(self, time_attr: str, metric: str, mode: str, min_resource: int, reduction_factor: int, max_t: int):
        super().__init__(time_attr, metric, mode)
        self._min_resource, self._reduction, self._max_t = min_resource, reduction_factor, max_t
        self._last_steps: list[int] = []  # of the completed trials
        self._brackets: list[SuccessiveHalving] | None = None
        self._allocations: list[int] = []  # trials each bracket gets, in proportion

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        if not self.reports(result):
            return TrialScheduler.CONTINUE
        if result.get(FINAL):
            self._last_steps.append(result[self._time_attr])
            return TrialScheduler.CONTINUE
        brackets = [] if self.is_baseline(trial) else self._set_up()
        if not brackets:
            return TrialScheduler.CONTINUE
        return brackets[self._bracket(trial)].on_trial_result(tune_controller, trial, result)

    def _set_up(self) -> list:
        """The brackets, set up once; none before a trial completed, nor when the longest
        completed trial was shorter than the minimum resource (as on Optuna)."""
        if self._brackets is not None or not self._last_steps:
            return self._brackets or []
        max_resource = max(self._last_steps) + 1
        count = math.floor(math.log(max_resource / self._min_resource, self._reduction)) + 1  # Optuna's float arithmetic
        self._allocations = [math.ceil(count * self._reduction ** (count - 1 - b) / (count - b)) for b in range(count)]
        self._brackets = [
            SuccessiveHalving(self._time_attr, self._metric, self._mode, self._min_resource * self._reduction**b, self._reduction, self._max_t)
            for b in range(count)
        ]
        return self._brackets

    def _bracket(self, trial) -> int:
        drawn = binascii.crc32(f"{trial.config[STUDY]}_{trial.config[TRIAL_NUMBER]}".encode()) % sum(self._allocations)
        for bracket, allocation in enumerate(self._allocations):
            drawn -= allocation
            if drawn < 0:
                return bracket
        raise AssertionError("the allocations add up to the drawn total")

    def debug_string(self) -> str:
        if self._brackets is None:
            return "Hyperband (Optuna's rule): no trial completed yet"
        return "Hyperband (Optuna's rule): " + "; ".join(f"bracket {b}: {s.debug_string()}" for b, s in enumerate(self._brackets))
