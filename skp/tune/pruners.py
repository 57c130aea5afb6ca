"""Pruners: one class each. A class carries the settings it takes and skp's defaults for
them, its Optuna pruner and its Ray scheduler; skp-tune's --pruner choices, their help
and their checks come from the classes, so a new pruner is one subclass (the fixture
`patient_pruner` in tests/tune/test_study.py adds one).

Steps are 0-based epochs: with a warm-up of E epochs the first judgement is at step E,
after epoch E + 1. On Ray, skp's own schedulers (skp.tune.ray_schedulers) judge by the
same steps, or under rungs the same rung lengths, with the Optuna pruners' rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from skp.errors import SkpError
from skp.registry import choose
from skp.tune.ray_keys import RUNG_EPOCHS, STEP

AUTO = "auto"
DEFAULT_PRUNER = "median"
# On digits, a trial's log loss over the first epochs of a warm-up + cosine schedule
# ranks trials backwards: high learning rates, the best settings, are worst until the
# rate falls (rank agreement with the final value -0.76 after epoch 1 of 10, -0.54
# after epoch 2, +0.65 after epoch 4). Judging from epoch 2 lost the best trial in 1
# of 4 replays (docs/benchmarks.md, "Search efficiency"); from epoch 4, in none.
WARMUP_SHARE = 0.3
# setting -> (its skp-tune flag, its lowest value, what it means)
SETTINGS = {
    "warmup": ("--pruner-warmup", 1, "epochs every trial trains before the pruner first judges it"),
    "startup": ("--pruner-startup", 0, "trials that finish unpruned before the median pruner compares"),
    "reduction": ("--reduction-factor", 2, "asha and hyperband keep 1 in R trials at each rung"),
}


@dataclass(frozen=True)
class PrunerSettings:
    """When a pruner may stop a trial; None takes the chosen pruner's default."""

    warmup: int | None = None  # epochs every trial trains before the pruner first judges it
    startup: int | None = None  # median: trials that finish unpruned before it compares
    reduction: int | None = None  # asha, hyperband: 1 in `reduction` trials goes on at each rung


class Pruner:
    """One pruner: `name` on the command line, `defaults` for the SETTINGS it takes (AUTO:
    WARMUP_SHARE of the trial's epochs), `optuna(**settings)` its Optuna pruner,
    `ray(max_t, common, **settings)` its Ray scheduler (`common`: the arguments every Ray
    scheduler takes). Subclasses register themselves."""

    name: str
    defaults: dict = {}
    # True: a trial trains a complete schedule per rung (rung_lengths) and reports once at
    # its end, instead of reporting every epoch of one schedule
    complete_schedules = False
    # with complete_schedules: a survivor trains on from the end of its rung (True) or
    # again from scratch
    continues = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:  # a shared base has none
            PRUNERS[cls.name] = cls()

    def optuna(self, **settings):
        raise NotImplementedError

    def ray(self, max_t: int, common: dict, **settings):
        raise NotImplementedError


PRUNERS: dict[str, Pruner] = {}


class Median(Pruner):
    name = "median"
    defaults = {"warmup": AUTO, "startup": 5}

    def optuna(self, warmup, startup):
        import optuna

        return optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=warmup)

    def ray(self, max_t, common, warmup, startup):
        from skp.tune.ray_schedulers import MedianRule

        # Optuna's rule at the steps both backends report, not Ray's median stopping rule
        # (skp.tune.ray_schedulers), so both backends stop the same trials
        return MedianRule(**{**common, "time_attr": STEP}, warmup=warmup, startup=startup)


class Asha(Pruner):
    name = "asha"
    defaults = {"warmup": AUTO, "reduction": 3}

    def optuna(self, warmup, reduction):
        import optuna

        return optuna.pruners.SuccessiveHalvingPruner(min_resource=warmup, reduction_factor=reduction)

    def ray(self, max_t, common, warmup, reduction):
        from skp.tune.ray_schedulers import SuccessiveHalving

        # Optuna's rungs (W x R^k in the 0-based steps both backends report) and Optuna's
        # rule, not ASHA's percentile cut, so both backends keep the same trials
        return SuccessiveHalving(**{**common, "time_attr": STEP}, max_t=max_t, grace_period=warmup, reduction_factor=reduction)


class Hyperband(Pruner):
    name = "hyperband"
    defaults = {"warmup": AUTO, "reduction": 3}

    def optuna(self, warmup, reduction):
        import optuna

        return optuna.pruners.HyperbandPruner(min_resource=warmup, reduction_factor=reduction)

    def ray(self, max_t, common, warmup, reduction):
        from skp.tune.ray_schedulers import Hyperband as HyperbandRule

        # Optuna's brackets, drawn from the study's name and the trial's number, and its rule in each, not Ray's
        # HyperBand (brackets filled in turn, rungs counted in iterations from 1)
        return HyperbandRule(**{**common, "time_attr": STEP}, max_t=max_t, min_resource=warmup, reduction_factor=reduction)


class Rungs(Pruner):
    """Successive halving whose rungs are complete schedules: a trial trains its whole
    warm-up and decay compressed into W epochs (W = the warm-up setting), reports that
    value, and if the pruner keeps it trains again from scratch in W x R epochs, and so on
    up to its own length. Every rung's value ends a schedule whose learning rate has come
    down, so it can rank trials as their final values do, which a value in the middle of
    one long schedule cannot (the warm-up's high rates look worst until they fall).
    A survivor pays the sum of its rungs, at most twice its length (rung_lengths leaves
    out a last rung nearly as long as the trial); the baseline trains its full schedule
    only."""

    name = "rungs"
    defaults = {"warmup": AUTO, "reduction": 3}
    complete_schedules = True

    def optuna(self, warmup, reduction):
        import optuna

        return optuna.pruners.SuccessiveHalvingPruner(min_resource=warmup, reduction_factor=reduction, min_early_stopping_rate=0)

    def ray(self, max_t, common, warmup, reduction):
        from skp.tune.ray_schedulers import SuccessiveHalving

        # time is the rung's length (RUNG_EPOCHS); Optuna's rule, not ASHA's percentile
        # cut, so both backends keep the same trials (skp.tune.ray_schedulers)
        return SuccessiveHalving(max_t=max_t, grace_period=warmup, reduction_factor=reduction, **common)


class ContinuedRungs(Rungs):
    """Rungs whose survivors train on from the end of their rung instead of from scratch:
    the next rung's schedule, stretched to its length, resumes at the epoch the last one
    ended, so the learning rate climbs back to that point of the longer schedule (a warm
    restart) and only the new epochs are trained. Survivors pay exactly their length; the
    question is whether the restart keeps what from-scratch rungs rank and reach
    (tests/benchmarks/bench_rung_fidelity.py measures both)."""

    name = "rungs-continued"
    continues = True


def rung_lengths(first: int, reduction: int, epochs: int, continued: bool = False) -> list[int]:
    """Epochs of each rung's complete schedule: first, first x reduction, ... below
    `epochs`, then `epochs` itself (the trial's own length, never pruned).

    From scratch (not `continued`) the last rung below `epochs` is left out when it is
    longer than (R - 1) / R of it: a trial that reaches it pays r epochs there and, 1 time
    in R, its whole length again, more on average than the length it would pay without
    the rung (with R = 3, 30 epochs: rungs 3, 9, 30, not 3, 9, 27, 30). Continued, a rung
    costs only its new epochs, so every one is kept."""
    lengths, length = [], first
    while length < epochs:
        lengths.append(length)
        length *= reduction
    if not continued and lengths and lengths[-1] * reduction > epochs * (reduction - 1):
        lengths.pop()
    return lengths + [epochs]


class NoPruner(Pruner):
    name = "none"

    def optuna(self):
        import optuna

        return optuna.pruners.NopPruner()

    def ray(self, max_t, common):
        from ray.tune.schedulers import FIFOScheduler

        return FIFOScheduler()


def pruner_named(name: str) -> Pruner:
    return choose(PRUNERS, name, "--pruner")


def default_warmup(epochs: int) -> int:
    return max(1, round(epochs * WARMUP_SHARE))


def resolve_pruner_settings(name: str, settings: PrunerSettings, epochs: int | None = None) -> dict:
    """The settings `name` runs with: the given ones over its defaults, the default warm-up
    taken from the trial's `epochs`. A setting the pruner does not take, or out of range,
    is refused rather than ignored."""
    defaults = pruner_named(name).defaults
    given = {key: value for key, value in vars(settings).items() if value is not None}
    foreign = [SETTINGS[key][0] for key in given if key not in defaults]
    if foreign:
        takes = ", ".join(SETTINGS[key][0] for key in defaults) or "no setting"
        raise SkpError(f"{', '.join(foreign)} does not apply to --pruner {name}, which takes {takes}. Drop the flag or pick another --pruner.")
    low = [f"{SETTINGS[key][0]} {value} (at least {SETTINGS[key][1]})" for key, value in given.items() if value < SETTINGS[key][1]]
    if low:
        raise SkpError(f"Out of range: {', '.join(low)}.")
    chosen = {**defaults, **given}
    if chosen.get("warmup") == AUTO:
        if epochs is None:
            raise ValueError("the default warm-up is a share of the trial's epochs: pass epochs")
        chosen["warmup"] = default_warmup(epochs)
    return chosen


def describe_pruner(name: str, chosen: dict) -> str:
    """'asha (warm-up 2 epochs, reduction factor 3)': what a study runs with, for its log."""
    words = {"warmup": "warm-up {} epochs", "startup": "{} startup trials", "reduction": "reduction factor {}"}
    settings = ", ".join(words[key].format(value) for key, value in chosen.items() if value is not None)
    return f"{name} ({settings})" if settings else name


def make_pruner(name: str, settings: PrunerSettings = PrunerSettings(), epochs: int | None = None):
    """Optuna's pruner `name` with `settings` over its defaults."""
    return pruner_named(name).optuna(**resolve_pruner_settings(name, settings, epochs))


def make_scheduler(name: str, mode: str, epochs: int, settings: PrunerSettings = PrunerSettings(), folds: int = 1):
    """Ray's counterpart of pruner `name` for trials of at most `epochs` epochs on `folds`
    folds: stepping once per validation epoch, or for rungs once per complete schedule."""
    pruner = pruner_named(name)
    if pruner.complete_schedules:
        time_attr, max_t = RUNG_EPOCHS, epochs
    else:
        time_attr, max_t = "training_iteration", epochs * folds
    common = {"time_attr": time_attr, "metric": "val_metric", "mode": mode}
    return pruner.ray(max_t, common, **resolve_pruner_settings(name, settings, epochs=max_t))

