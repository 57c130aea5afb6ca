"""skp's Ray schedulers stop the trials the Optuna backend's pruners stop."""

import math
import random
from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState
from ray.tune.schedulers import TrialScheduler

from skp.tune.pruners import PrunerSettings, make_pruner, make_scheduler, rung_lengths
from skp.tune.ray_keys import BASELINE, FINAL, RUNG_EPOCHS, STEP, STUDY, TRIAL_NUMBER

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

EPOCHS = 30  # the longest trial
HALVING = [PrunerSettings(warmup=w, reduction=r) for w, r in [(1, 2), (2, 2), (3, 3), (1, 3), (2, 4)]]
SETTINGS = {
    "median": [PrunerSettings(warmup=w, startup=s) for w, s in [(1, 0), (1, 2), (3, 5), (2, 1), (1, 3)]],
    "asha": HALVING,
    "hyperband": HALVING,
    "rungs": HALVING,
}


def _random_study(rng, pruner, settings):
    """Trials of random lengths and values, their reports interleaved as parallel workers
    would send them: every epoch's step, or under rungs each rung's length (from scratch
    or continued; the baseline trains its full schedule only). Trial 0 is the baseline
    half of the time. Yields (trial, step, value, last, baseline)."""
    baseline = rng.random() < 0.5

    def steps(number, length):
        if pruner != "rungs":
            return list(range(length))
        if number == 0 and baseline:
            return [length]
        return rung_lengths(settings.warmup, settings.reduction, length, continued=rng.random() < 0.5)

    pending = {n: steps(n, rng.choice([settings.warmup * 3, 10, 20, EPOCHS])) for n in range(rng.randint(2, 24))}
    values = {n: rng.choice([rng.random(), round(rng.random(), 1)]) for n in pending}  # ties too
    while pending:
        number = rng.choice(list(pending))
        step, *rest = pending[number]
        values[number] += rng.gauss(0, 0.1)
        value = math.nan if rest and rng.random() < 0.02 else values[number]
        yield number, step, value, not rest, number == 0 and baseline
        if rest:
            pending[number] = rest
        else:
            del pending[number]


def _replay(pruner, settings, direction, events, name) -> int:
    """Feeds each report to Optuna's pruner, as the Optuna backend asks it (not at a
    trial's last report, never for the baseline; a last report completes the trial), and
    to skp's Ray scheduler, as skp.tune.ray_trial reports it; asserts they decide alike
    and drops a stopped trial's later reports. Returns how many trials they stopped."""
    study = optuna.create_study(study_name=name, direction=direction, pruner=make_pruner(pruner, settings))
    scheduler = make_scheduler(pruner, direction[:3], EPOCHS, settings)
    trials, stopped = {}, set()
    for number, step, value, last, baseline in events:
        if number in stopped:
            continue
        trial = trials.setdefault(number, study.ask())
        trial.report(value, step=step)
        prune = not last and not baseline and trial.should_prune()
        result = {STEP: step, "val_metric": value, FINAL: last}
        if pruner == "rungs":
            result[RUNG_EPOCHS] = step
        ray_trial = SimpleNamespace(trial_id=str(number), config={STUDY: name, TRIAL_NUMBER: trial.number, BASELINE: baseline})
        stop = scheduler.on_trial_result(None, ray_trial, result) == TrialScheduler.STOP
        assert prune == stop, (number, step)
        if last:
            study.tell(trial, value)
        elif prune:
            study.tell(trial, state=TrialState.PRUNED)
            stopped.add(number)
    return len(stopped)


def test_every_pruner_of_skp_is_replayed():
    """A new pruner must decide alike on both backends too: add it to SETTINGS."""
    from skp.tune.pruners import PRUNERS

    # rungs-continued judges with rungs' scheduler (only what a survivor trains differs); none stops nothing
    assert set(PRUNERS) == set(SETTINGS) | {"rungs-continued", "none"}


@pytest.mark.parametrize("pruner", list(SETTINGS))
@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_skps_ray_schedulers_stop_the_trials_optunas_pruners_stop(pruner, direction):
    rng = random.Random(0)
    stopped = 0
    for _ in range(300):
        settings = rng.choice(SETTINGS[pruner])
        name = f"replay-{rng.randrange(10**6)}"  # Hyperband draws brackets from it
        stopped += _replay(pruner, settings, direction, list(_random_study(rng, pruner, settings)), name)
    assert stopped > 100  # the studies stopped trials, so the rule was tested
