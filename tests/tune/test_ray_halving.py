"""The rungs pruners on Ray keep the trials the Optuna backend keeps."""

import random
from types import SimpleNamespace

import optuna
import pytest
from ray.tune.schedulers import TrialScheduler

from skp.tune.pruners import RUNG_EPOCHS, PrunerSettings, make_pruner, make_scheduler, rung_lengths

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _optuna_decisions(events, warmup, reduction, direction):
    """What Optuna's pruner says at each event (trial, rung length, value, last), as
    skp.tune.trial.fit_rungs asks it: never at a trial's last rung."""
    study = optuna.create_study(direction=direction, pruner=make_pruner("rungs", PrunerSettings(warmup=warmup, reduction=reduction)))
    trials, decisions = {}, []
    for number, length, value, last in events:
        trial = trials.setdefault(number, study.ask())
        trial.report(value, step=length)
        decisions.append(not last and trial.should_prune())
    return decisions


def _ray_decisions(events, warmup, reduction, direction, epochs):
    scheduler = make_scheduler("rungs", direction[:3], epochs, PrunerSettings(warmup=warmup, reduction=reduction))
    return [scheduler.on_trial_result(None, SimpleNamespace(trial_id=str(number)),
                                      {RUNG_EPOCHS: length, "val_metric": value, "final": last}) == TrialScheduler.STOP
            for number, length, value, last in events]


def _random_study(rng, warmup, reduction, lengths):
    """Trials of random lengths and values, their rungs interleaved as parallel workers
    would report them. Every trial reports all its rungs to both pruners, which then see
    the same values; decisions are compared up to a trial's first stop (it would have
    reported no more)."""
    pending = {n: rung_lengths(warmup, reduction, rng.choice(lengths), continued=rng.random() < 0.5) for n in range(rng.randint(2, 24))}
    values = {n: rng.choice([rng.random(), round(rng.random(), 1)]) for n in pending}  # ties too
    while pending:
        number = rng.choice(list(pending))
        length, *rest = pending[number]
        values[number] += rng.gauss(0, 0.1)
        yield number, length, values[number], not rest
        if rest:
            pending[number] = rest
        else:
            del pending[number]


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_rungs_on_ray_keep_the_trials_optuna_keeps(direction):
    rng = random.Random(0)
    pruned = 0
    for _ in range(300):
        warmup, reduction = rng.choice([(1, 2), (2, 2), (3, 3), (1, 3), (2, 4)])
        events = list(_random_study(rng, warmup, reduction, [warmup * 3, 10, 20, 30]))
        optuna_says = _optuna_decisions(events, warmup, reduction, direction)
        ray_says = _ray_decisions(events, warmup, reduction, direction, 30)
        stopped = set()
        for (number, *_), prune, stop in zip(events, optuna_says, ray_says):
            if number in stopped:
                continue
            assert prune == stop
            if prune:
                stopped.add(number)
                pruned += 1
    assert pruned > 100  # the studies pruned, so the rule was tested
