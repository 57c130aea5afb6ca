"""Successive halving on Ray by Optuna's rule, for `--pruner asha` and the rungs pruners:
at every rung the same trials go on as on the Optuna backend, so one measurement of a
default holds for both backends (tests/tune/test_ray_halving.py replays random studies
through both).

Ray's ASHA keeps a trial whose value beats the (1 - 1/R) percentile, interpolated, of
the values recorded at the rung before it. Optuna's SuccessiveHalvingPruner keeps it when
it is among the best max(1, n // R) of the n values at the rung, its own included. With
a third trial at a rung and R = 3, ASHA keeps one between the other two, Optuna only
a new best, so the backends' studies parted at the first contested rung. ASHA also put
its rungs at (W + 1) x R^k iterations, Optuna at W x R^k 0-based steps: the same first
rung, then others.
"""

from __future__ import annotations

import math
import pickle

from ray.tune.schedulers import FIFOScheduler, TrialScheduler


def promotable(values: list, value: float, reduction: int) -> bool:
    """Optuna's rule, larger values better: `value` is among the best max(1, n // R) of
    the n `values` at the rung (its own among them)."""
    keep = max(1, len(values) // reduction)
    return value >= sorted(values, reverse=True)[keep - 1]


class SuccessiveHalving(FIFOScheduler):
    """Asynchronous successive halving over rungs at grace_period x R^k (below max_t) of
    `time_attr`: a trial's report at or past a rung it has not passed is recorded there
    and judged against every value recorded there before; a trial's last report (result
    key `final`) is not judged, as the Optuna backend does not ask its pruner then."""

    def __init__(self, time_attr: str, metric: str, mode: str, grace_period: int, reduction_factor: int, max_t: int):
        super().__init__()
        self._time_attr, self._metric, self._mode = time_attr, metric, mode
        self._sign = 1 if mode == "max" else -1
        self._reduction = reduction_factor
        self._rungs: dict[int, dict] = {}  # rung -> {trial id: value}
        rung = grace_period
        while rung < max_t:
            self._rungs[rung] = {}
            rung *= reduction_factor

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        if self._time_attr not in result or self._metric not in result or result.get("final"):
            return TrialScheduler.CONTINUE
        value = self._sign * result[self._metric]
        if math.isnan(value):
            return TrialScheduler.STOP
        for rung, recorded in self._rungs.items():
            if rung > result[self._time_attr] or trial.trial_id in recorded:
                continue
            recorded[trial.trial_id] = value
            if not promotable(list(recorded.values()), value, self._reduction):
                return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def debug_string(self) -> str:
        return "Successive halving (Optuna's rule): " + ", ".join(f"rung {r}: {len(v)} trials" for r, v in self._rungs.items())

    def save(self, checkpoint_path: str):
        with open(checkpoint_path, "wb") as out:
            pickle.dump(self.__dict__, out)

    def restore(self, checkpoint_path: str):
        with open(checkpoint_path, "rb") as saved:
            self.__dict__.update(pickle.load(saved))
