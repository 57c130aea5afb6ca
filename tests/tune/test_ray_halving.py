"""`--pruner asha` and the rungs pruners on Ray keep the trials the Optuna backend keeps."""

import random
from types import SimpleNamespace

import optuna
import pytest
from ray.tune.schedulers import TrialScheduler

from skp.tune.pruners import RUNG_EPOCHS, STEP, PrunerSettings, make_pruner, make_scheduler, rung_lengths

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

EPOCHS = 30  # the longest trial


def _optuna_decisions(pruner, events, warmup, reduction, direction):
    """What Optuna's pruner says at each event (trial, step, value, last), as the Optuna
    backend asks it: never at a trial's last report."""
    study = optuna.create_study(direction=direction, pruner=make_pruner(pruner, PrunerSettings(warmup=warmup, reduction=reduction)))
    trials, decisions = {}, []
    for number, step, value, last in events:
        trial = trials.setdefault(number, study.ask())
        trial.report(value, step=step)
        decisions.append(not last and trial.should_prune())
    return decisions


def _ray_decisions(pruner, events, warmup, reduction, direction):
    """What skp's Ray scheduler says, fed the results skp.tune.ray_trial reports: every
    result carries the step; a rung's also its length (the same number) as RUNG_EPOCHS."""
    scheduler = make_scheduler(pruner, direction[:3], EPOCHS, PrunerSettings(warmup=warmup, reduction=reduction))
    decisions = []
    for number, step, value, last in events:
        result = {STEP: step, "val_metric": value, "final": last}
        if pruner == "rungs":
            result[RUNG_EPOCHS] = step
        decisions.append(scheduler.on_trial_result(None, SimpleNamespace(trial_id=str(number)), result) == TrialScheduler.STOP)
    return decisions


def _random_study(rng, pruner, warmup, reduction):
    """Trials of random lengths and values, their reports interleaved as parallel workers
    would send them: every epoch's step (asha), or each rung's length (rungs, from
    scratch or continued). Every trial reports everything to both pruners, which then
    see the same values; decisions are compared up to a trial's first stop (it would
    have reported no more)."""
    def steps(length):
        if pruner == "asha":
            return list(range(length))
        return rung_lengths(warmup, reduction, length, continued=rng.random() < 0.5)

    pending = {n: steps(rng.choice([warmup * 3, 10, 20, EPOCHS])) for n in range(rng.randint(2, 24))}
    values = {n: rng.choice([rng.random(), round(rng.random(), 1)]) for n in pending}  # ties too
    while pending:
        number = rng.choice(list(pending))
        step, *rest = pending[number]
        values[number] += rng.gauss(0, 0.1)
        yield number, step, values[number], not rest
        if rest:
            pending[number] = rest
        else:
            del pending[number]


@pytest.mark.parametrize("pruner", ["asha", "rungs"])
@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_successive_halving_on_ray_keeps_the_trials_optuna_keeps(pruner, direction):
    rng = random.Random(0)
    pruned = 0
    for _ in range(300):
        warmup, reduction = rng.choice([(1, 2), (2, 2), (3, 3), (1, 3), (2, 4)])
        events = list(_random_study(rng, pruner, warmup, reduction))
        optuna_says = _optuna_decisions(pruner, events, warmup, reduction, direction)
        ray_says = _ray_decisions(pruner, events, warmup, reduction, direction)
        stopped = set()
        for (number, *_), prune, stop in zip(events, optuna_says, ray_says):
            if number in stopped:
                continue
            assert prune == stop
            if prune:
                stopped.add(number)
                pruned += 1
    assert pruned > 100  # the studies pruned, so the rule was tested
