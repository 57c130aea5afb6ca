"""Seed check: the top trials and the baseline re-measured on extra seeds.

A trial's value is one draw: another seed gives another value. `skp-tune CFG --confirm K
--confirm-seeds S` trains the K best complete trials and the baseline trial again with
S other seeds (cfg.seed + 1, ..., cfg.seed + S), on the folds each trial trained, as
ordinary skp runs (`<trial run id>-seed<s>`, resumable, skipped when done). Their values
are kept in the study's user attributes (`seed_check:<trial number>`), where the report
and the dashboard read them; candidates are ranked by the mean over seeds, and the best
counts as better than the baseline only when the gap exceeds twice the seed spread.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from skp.tune.baseline import baseline_trial, is_baseline

ATTR_PREFIX = "seed_check:"
NOISE_FACTOR = 2.0  # a gain counts when it exceeds this many pooled seed standard deviations


@dataclass
class SeedCheck:
    number: int
    baseline: bool
    values: dict  # seed -> value, the trial's own seed first
    folds: tuple = (0,)  # where the values were measured

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values.values())

    @property
    def std(self) -> float:
        return statistics.stdev(self.values.values()) if len(self.values) > 1 else math.nan


def trial_seed(trial, default: int | None) -> int | None:
    """The seed a trial trained with: its run's recorded seed, else `default` (the config's)."""
    seed = (trial.user_attrs.get("provenance") or {}).get("seed")
    return default if seed is None else int(seed)


def candidates(study, top_k: int) -> list:
    """The `top_k` best complete trials, then the baseline trial when it is not among them."""
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    done.sort(key=lambda t: t.value, reverse=study.direction.name == "MAXIMIZE")
    chosen = done[:top_k]
    baseline = baseline_trial(study)
    if baseline is not None and all(t.number != baseline.number for t in chosen):
        chosen.append(baseline)
    return chosen


def trial_folds(trial) -> list[int]:
    """The folds a trial trained (its checkpoints), fold 0 when it recorded none."""
    return [int(Path(c).parent.name[4:]) for c in trial.user_attrs.get("checkpoints", [])] or [0]


def trial_trainer_kwargs(trial) -> dict:
    """The Trainer flags a trial ran with (its run.json), when its run is on this machine."""
    from skp.training.runs import read_run_meta

    meta = read_run_meta(trial.user_attrs.get("run_dir", "")) or {}
    return meta.get("trainer_kwargs", {})


def confirm_trial(study, trial, seeds: list[int], progress: str = "") -> dict:
    """Train `trial`'s settings with each of `seeds`; store and return {seed: value}."""
    from skp.training.folds import train_folds

    key = f"{ATTR_PREFIX}{trial.number}"
    stored = {int(s): v for s, v in (study.user_attrs.get(key) or {}).items()}
    settings = [tuple(pair) for pair in trial.user_attrs["overrides"]]
    folds = ",".join(str(f) for f in trial_folds(trial))
    for seed in seeds:
        if seed in stored:
            continue
        print(f"skp-tune: seed check of trial {trial.number} with seed {seed}")
        results = train_folds(
            trial.user_attrs["config_name"],
            [*settings, ("seed", seed)],
            kfold=folds,
            run_id=f"{trial.user_attrs['run_id']}-seed{seed}",
            trainer_kwargs=trial_trainer_kwargs(trial),
        )
        values = [r["best_value"] for r in results]
        stored[seed] = statistics.fmean(values) if None not in values else math.nan
        print(f"skp-tune: seed check of trial {trial.number} with seed {seed}: {results[0]['val_metric']} {stored[seed]:.4f}{progress}", flush=True)
        study.set_user_attr(key, {str(s): v for s, v in stored.items()})  # kept as each seed ends
    return stored


def run_seed_check(study, cfg, top_k: int, extra_seeds: int) -> list[SeedCheck]:
    chosen = candidates(study, top_k)
    for place, trial in enumerate(chosen, 1):
        own = trial_seed(trial, cfg.seed)
        confirm_trial(study, trial, [own + i for i in range(1, extra_seeds + 1)], f"  (trial {place}/{len(chosen)})")
    return seed_checks(study, cfg)


def seed_checks(study, cfg) -> list[SeedCheck]:
    """Every checked trial with its values by seed, best mean first."""
    checks = []
    for trial in study.get_trials(deepcopy=False):
        stored = study.user_attrs.get(f"{ATTR_PREFIX}{trial.number}")
        if not stored or trial.value is None:
            continue
        values = {trial_seed(trial, cfg.seed): trial.value, **{int(s): v for s, v in stored.items()}}
        checks.append(SeedCheck(trial.number, is_baseline(trial), values, tuple(trial_folds(trial))))
    checks.sort(key=lambda c: c.mean, reverse=study.direction.name == "MAXIMIZE")
    return checks


def verdict(checks: list[SeedCheck], maximize: bool) -> str:
    """One sentence: does the best mean beat the baseline by more than the seed noise?"""
    base = next((c for c in checks if c.baseline), None)
    if not checks or base is None:
        return "no seed check of the baseline trial: run --confirm on a study that holds one"
    best = checks[0]
    if best.baseline:
        return f"the baseline (trial {base.number}) has the best mean over seeds: tuning found nothing better"
    gain = (best.mean - base.mean) if maximize else (base.mean - best.mean)
    spread = math.sqrt((best.std**2 + base.std**2) / 2)
    if math.isnan(spread):
        return f"trial {best.number} leads the baseline by {gain:.4g}, but one seed each cannot measure the noise"
    beyond = gain > NOISE_FACTOR * spread
    ratio = gain / spread if spread > 0 else math.inf
    folds = describe_folds(best.folds)
    return (
        f"trial {best.number} beats the baseline (trial {base.number}) by {gain:.4g} in the mean over "
        f"{len(best.values)} seeds on {folds}, {ratio:.1f}x the seed spread ({spread:.4g}): "
        + ("beyond the noise" if beyond else f"within the noise (a gain counts above {NOISE_FACTOR:g}x)")
        # one fold can be an easy one: a winner there may lose on the others
        + (f"; {folds} alone: promotion (--promote) compares them on every fold" if len(best.folds) == 1 else "")
    )


def describe_folds(folds: tuple) -> str:
    return ("fold " if len(folds) == 1 else "folds ") + ",".join(map(str, folds))
