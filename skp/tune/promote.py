"""Promotion: a study's best trials trained on every fold, inside their own run directories.

    skp-tune digits.cfg_baseline --promote 3 [--promote-by ensemble] [--promote-folds 0,1,2,3,4] [--promote-seeds 2]

Trials train fold 0 (or --folds); a submission wants every fold. Promotion picks K
finished trials, by value, or by greedy ensemble selection on their out-of-fold
predictions (each pick is the trial that most improves the mean of those already
picked, so the K complement each other rather than being near-copies of the best), and
trains each one's missing folds into the trial's own run directory as skp-train would:
same config, overrides and Trainer flags, resumable from resume.ckpt, skipped when done.

The study's baseline trial is promoted too, as the reference (not one of the K): the
report compares the promoted trials with it fold by fold, a far finer test than fold 0
alone, and the exported tuned config is the promoted trial with the best mean over folds.

A job (trial, fold) is claimed with the fold's lock (skp.training.runs.fold_claim), so the worker
slots of the study (CPU workers, GPUs) and other commands share the jobs, and the job of
a worker that dies is free again at once. Optuna keeps a finished trial's attributes read-only, so the
choice and the cross-validated values live in the study's user attributes: `promotion`
(the trials, in order, and the baseline) and `cv:<trial>` (value per fold, their mean
and std, and the value of the concatenated out-of-fold predictions).

`--promote-seeds S` trains each kept trial again on every fold with S other seeds (its
own seed + 1, ..., + S) into the seed check's run directories (`<trial run id>-seed<s>`,
whose fold 0 a seed check has already trained). On Fashion-MNIST the tuned config's runs
at three seeds, averaged, beat a blend of the three best trials (docs/benchmarks.md): a
trial's fold models gain more from other seeds than from near-copies. `cv:<trial>` then
also holds each seed's mean over folds and the value of the seeds' averaged out-of-fold
predictions; skp-ensemble's `Study(..., seeds=True)` takes the copies as members. In a
race, the copies train once the race is decided, for the trials it kept.
"""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass
from pathlib import Path

from skp.errors import SkpError
from skp.faults import reach
from skp.tune.confirm import trial_seed

PROMOTION = "promotion"
CV_PREFIX = "cv:"
PROMOTE_BY = ("value", "ensemble")
WAIT_ROUND_SECONDS = 5.0  # a racing worker's pause between looks at a round other workers finish


@dataclass
class Job:
    trial: int
    fold: int
    run_dir: Path
    seed: int | None = None  # a seed copy's seed; None: the trial's own run

    @property
    def label(self) -> str:
        return f"trial {self.trial}" + ("" if self.seed is None else f" seed {self.seed}")

    @property
    def fold_dir(self) -> Path:
        return self.run_dir / f"fold{self.fold}"

    def done(self) -> bool:
        from skp.training.runs import DONE_FILE

        return (self.fold_dir / DONE_FILE).exists()


def annotation_folds(cfg) -> list[int]:
    """Every fold of the config's fold column."""
    import pandas as pd

    from skp.datasets.annotations import data_file

    frame = pd.read_csv(data_file(cfg, cfg.annotations_file), usecols=[cfg.fold_column])
    return sorted(int(f) for f in frame[cfg.fold_column].unique())


def _has_run(trial) -> bool:
    return (Path(trial.user_attrs.get("run_dir", "")) / "run.json").is_file()


def _distinct_by_value(study) -> list:
    """Complete trials whose run is on this machine, best value first; a trial that
    repeats an earlier one's parameters is left out (promoting it twice adds nothing)."""
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if _has_run(t)]
    done.sort(key=lambda t: t.value, reverse=study.direction.name == "MAXIMIZE")
    return distinct_params(done)


def distinct_params(trials: list) -> list:
    """`trials` in their order, less those that repeat an earlier one's parameters."""
    seen, distinct = set(), []
    for trial in trials:
        key = tuple(sorted(trial.params.items()))
        if key not in seen:
            seen.add(key)
            distinct.append(trial)
    return distinct


def select_by_ensemble(oofs: list, scorer, k: int) -> list[int]:
    """Greedy forward selection without replacement: the best single member, then at each
    step the member whose addition gives the best mean of the picked ones."""
    import numpy as np

    from skp.oof.selection import forward_selection

    state = {"total": np.zeros_like(oofs[0]), "size": 0}

    def add(i):
        state["total"] += oofs[i]
        state["size"] += 1

    picks = forward_selection(len(oofs), lambda i: scorer((state["total"] + oofs[i]) / (state["size"] + 1)), add, scorer.better, k,
                              repeats=False)
    return [i for i, _ in picks]


def choose_trials(study, k: int, by: str) -> list:
    candidates = _distinct_by_value(study)
    if not candidates:
        raise SkpError(
            f"Study {study.study_name!r} has no complete trial whose run directory is on this machine; "
            f"nothing to promote. Run trials first (--trials N)."
        )
    if by == "value" or len(candidates) <= k:
        return candidates[:k]
    from skp.tune.confirm import trial_folds

    folds = trial_folds(candidates[0])
    candidates = [t for t in candidates if set(folds) <= set(trial_folds(t))]
    try:
        from skp.tune.oofs import trial_oofs

        oofs, scorer, _ = trial_oofs(candidates, folds)
    except SkpError as err:
        raise SkpError(
            f"--promote-by ensemble compares the trials' out-of-fold predictions on every row of folds "
            f"{folds}, and cannot here: {err} (Trials run with --limit_val_batches predict part of a fold.) "
            f"Use --promote-by value."
        ) from None
    return [candidates[i] for i in select_by_ensemble(oofs, scorer, k)]


def record_promotion(study, trials, by: str, folds: list[int], race_keep: int | None = None, seeds: int = 0) -> dict:
    """Record the choice; a race keeps the stops it decided when the same command runs again."""
    from skp.tune.baseline import baseline_trial
    from skp.tune.race import race_record

    baseline = baseline_trial(study)
    reference = baseline.number if baseline is not None and _has_run(baseline) else None
    record = {"by": by, "folds": folds, "trials": [t.number for t in trials], "baseline": reference}
    if seeds:
        record["seeds"] = seeds
    if race_keep is not None:
        old = promotion(study) or {}
        same = all(old.get(k) == record[k] for k in record) and (old.get("race") or {}).get("keep") == race_keep
        record["race"] = old["race"] if same else race_record(race_keep)
    study.set_user_attr(PROMOTION, record)
    return record


def promotion(study) -> dict | None:
    return study.user_attrs.get(PROMOTION)


def kept_trials(record: dict) -> list[int]:
    """The promoted trials, less those a race stopped."""
    from skp.tune.race import stopped

    out = stopped(record)
    return [n for n in record["trials"] if n not in out]


def promoted_numbers(record: dict) -> list[int]:
    """The kept trials, then the baseline when it is not one of them."""
    baseline = record.get("baseline")
    return kept_trials(record) + ([baseline] if baseline is not None and baseline not in record["trials"] else [])


def seed_runs(trial, count: int) -> dict[int, Path]:
    """{seed: run directory}: the trial's own run, then its `count` seed copies."""
    own = _own_seed(trial)
    return {own: Path(trial.user_attrs["run_dir"]), **_copies(trial, own, count)}


def seed_copies(trial, count: int) -> dict[int, Path]:
    """{seed: run directory} of the trial's `count` seed copies: the seeds after its own, in
    the seed check's run directories (named as `confirm` names them)."""
    return _copies(trial, _own_seed(trial), count)


def _copies(trial, own: int, count: int) -> dict[int, Path]:
    parent = Path(trial.user_attrs["run_dir"]).parent
    return {own + i: parent / f"{trial.user_attrs['run_id']}-seed{own + i}" for i in range(1, count + 1)}


def _own_seed(trial) -> int:
    """The trial's seed as the seed check reads it; from run.json only for trials that
    ended before trials kept their provenance (no file read on the supervisor's poll)."""
    from skp.training.runs import read_run_meta

    seed = trial_seed(trial, None)
    return read_run_meta(Path(trial.user_attrs["run_dir"]))["provenance"]["seed"] if seed is None else seed


def jobs_of(study) -> list[Job]:
    """Every (trial, fold) of the recorded promotion: trial by trial, or in a race, round by
    round (every candidate's fold, then the next fold); then the kept trials' seed copies."""
    record = promotion(study)
    if record is None:
        return []
    trials = study.get_trials(deepcopy=False)
    pairs = [(n, f) for n in promoted_numbers(record) for f in record["folds"]]
    if record.get("race"):
        pairs.sort(key=lambda pair: record["folds"].index(pair[1]))
    jobs = [Job(number, fold, Path(trials[number].user_attrs["run_dir"])) for number, fold in pairs]
    for number in kept_trials(record) if record.get("seeds") else []:
        copies = seed_copies(trials[number], record["seeds"])
        jobs += [Job(number, f, run_dir, seed) for seed, run_dir in copies.items() for f in record["folds"]]
    return jobs


def missing_jobs(study) -> list[Job]:
    """The jobs left; in a race, those of the first unfinished round only, and the seed
    copies once every round is decided (a stopped trial gets none)."""
    missing = [job for job in jobs_of(study) if not job.done()]
    own = [job for job in missing if job.seed is None]
    if own and (promotion(study) or {}).get("race"):
        return [job for job in own if job.fold == own[0].fold]
    return missing


def advance_race(study) -> None:
    """Decide every finished round not yet decided, in order (skp.tune.race)."""
    from skp.tune.confirm import trial_folds
    from skp.tune.race import decide

    record = promotion(study)
    race = (record or {}).get("race")
    if not race:
        return
    trials = study.get_trials(deepcopy=False)
    search_folds = {f for n in record["trials"] for f in trial_folds(trials[n])}
    for i, fold in enumerate(record["folds"]):
        if fold in race["decided"]:
            continue
        if not all(Job(n, fold, Path(trials[n].user_attrs["run_dir"])).done() for n in promoted_numbers(record)):
            return
        rounds = record["folds"][: i + 1]
        for number, (p, behind) in decide(study, record, rounds, search_folds).items():
            race["stopped"][str(number)] = {"after": rounds, "p": p, "behind": behind}
            print(f"skp-tune: promotion: trial {number} stops after folds {','.join(map(str, rounds))}: "
                  f"trial(s) {', '.join(map(str, behind))} beat it on every fold and beyond the noise (p {p:.2g})", flush=True)
        race["decided"].append(fold)
        study.set_user_attr(PROMOTION, record)


# -- training one job -------------------------------------------------------------------
def job_config(trial, fold: int, seed: int | None = None):
    """The trial's config for `fold` (with `seed`: its seed copy's), refused when its config
    files changed since the trial: the new folds would train another model than the one
    the study measured."""
    from skp.configs import load_config
    from skp.training.runs import config_fingerprint, read_run_meta

    settings = [tuple(pair) for pair in trial.user_attrs["overrides"]]
    cfg = load_config(trial.user_attrs["config_name"], settings)
    meta = read_run_meta(trial.user_attrs["run_dir"])
    if meta.get("fingerprint") != config_fingerprint(cfg, settings):
        raise SkpError(
            f"Trial {trial.number}'s config files changed since it ran ({trial.user_attrs['run_dir']}/config_src "
            f"keeps them as they were): its other folds would train another model. Restore them, or promote other trials."
        )
    trainer_kwargs = meta.get("trainer_kwargs", {})
    if seed is not None:
        cfg = seed_copy_run(trial, settings, seed, trainer_kwargs)
    cfg.fold = fold
    return cfg, trainer_kwargs


def seed_copy_run(trial, settings: list, seed: int, trainer_kwargs: dict):
    """The config of a trial's seed copy, its run directory created (or checked) as the
    seed check's skp-train creates it, so either command continues the other's folds."""
    from skp.configs import load_config
    from skp.training.runs import prepare_run_dir, run_fingerprint

    overrides = [*settings, ("seed", seed)]
    cfg = load_config(trial.user_attrs["config_name"], overrides)
    fingerprint = run_fingerprint(cfg, overrides, False, trainer_kwargs)
    prepare_run_dir(cfg, f"{trial.user_attrs['run_id']}-seed{seed}", fingerprint, overwrite=False, overrides=overrides,
                    trainer_kwargs=trainer_kwargs)
    return cfg


def train_job(study, job: Job) -> str:
    """'trained', 'done' (finished meanwhile) or 'busy' (another worker holds it)."""
    from skp.training.runs import fold_claim, fold_state
    from skp.training.folds import fit_fold

    trial = study.get_trials(deepcopy=False)[job.trial]
    cfg, trainer_kwargs = job_config(trial, job.fold, job.seed)  # before the claim: a seed copy's run directory
    with fold_claim(job.run_dir, job.fold) as mine:
        if not mine:
            return "busy"
        reach("promotion claim")
        state = fold_state(job.fold_dir)  # only under the lock: it clears an unstarted fold
        if state == "done":
            return "done"
        verb = "resuming" if state == "resumable" else "training"
        print(f"skp-tune: promotion: {verb} {job.label} fold {job.fold} in {job.fold_dir}", flush=True)
        result = fit_fold(cfg, job.fold_dir, trainer_kwargs, resume=state == "resumable")
        jobs = jobs_of(study)
        done = sum(j.done() for j in jobs)
        value = "no finite value" if result["best_value"] is None else f"{cfg.val_metric} {result['best_value']:.4f}"
        print(f"skp-tune: promotion: {job.label} fold {job.fold}: {value} in {result['seconds']:.0f} s  "
              f"({done}/{len(jobs)} folds done)", flush=True)
        return "trained"


def train_one(study_name: str, storage: str | None, job: Job, cwd: str) -> str:
    """train_job in a process of its own (a Ray task)."""
    from skp.tune.study import import_optuna, make_storage

    if os.path.isdir(cwd):  # relative save and data paths mean what they meant to the driver
        os.chdir(cwd)
    study = import_optuna().load_study(study_name=study_name, storage=make_storage(storage, study_name))
    return train_job(study, job)


def train_missing_folds(study) -> int:
    """Train the promotion's missing folds until none is left unclaimed; return how many
    this process trained. A fold that fails is reported and left for a re-run. In a race
    the rounds come one after another: a worker waits for a round others are finishing."""
    import time

    trained, failed = 0, {}
    racing = bool((promotion(study) or {}).get("race"))
    while True:
        advance_race(study)
        missing = missing_jobs(study)
        jobs = [job for job in missing if (job.trial, job.fold, job.seed) not in failed]
        if not jobs or (racing and len(jobs) < len(missing)):
            break  # done, or a round holds a failed fold: the race cannot go on
        outcomes = []
        for job in jobs:
            try:
                outcomes.append(train_job(study, job))
            except SkpError as err:
                failed[(job.trial, job.fold, job.seed)] = f"{job.label} fold {job.fold}: {err}"
        trained += outcomes.count("trained")
        if not racing:
            break
        if "trained" not in outcomes:
            time.sleep(0 if not outcomes or "busy" not in outcomes else WAIT_ROUND_SECONDS)
    if failed:
        raise SkpError("Promotion left folds unfinished: " + "; ".join(failed.values()))
    return trained


def race_summary(study) -> list[str]:
    """One line per stopped candidate, and the folds the race did not train."""
    record = promotion(study) or {}
    race = record.get("race")
    if not race:
        return []
    from skp.training.runs import read_done

    trials = study.get_trials(deepcopy=False)
    lines, skipped, saved = [], 0, 0.0
    for number, stop in sorted(race["stopped"].items(), key=lambda item: int(item[0])):
        left = [f for f in record["folds"] if f not in stop["after"]]
        run_dir = Path(trials[int(number)].user_attrs["run_dir"])
        seconds = [read_done(run_dir / f"fold{f}").get("seconds") or 0.0 for f in stop["after"]]
        skipped, saved = skipped + len(left), saved + len(left) * sum(seconds) / len(seconds)
        lines.append(f"trial {number} stopped after folds {','.join(map(str, stop['after']))} "
                     f"(behind trial(s) {', '.join(map(str, stop['behind']))}, p {stop['p']:.2g}): folds {','.join(map(str, left))} not trained")
    total = len(record["trials"]) * len(record["folds"])
    lines.append(f"{skipped} of the {len(record['trials'])} candidates' {total} folds not trained, about {saved:.0f} s saved "
                 f"(a candidate stops once {race['keep']} other(s) beat it; {len(record['trials']) - len(race['stopped'])} kept)")
    return lines


# -- cross-validated values ---------------------------------------------------------------
def fold_values(run_dir: Path, folds: list[int]) -> dict[int, float]:
    from skp.training.runs import read_done

    return {f: read_done(run_dir / f"fold{f}")["best_value"] for f in folds}


def record_cv(study) -> dict[int, dict]:
    """`cv:<trial>` for every promoted trial with all its folds done."""
    record = promotion(study) or {}
    folds, recorded = record.get("folds", []), {}
    trials = study.get_trials(deepcopy=False)
    for number in promoted_numbers(record) if record else []:
        trial = trials[number]
        run_dir = Path(trial.user_attrs["run_dir"])
        if not all(Job(number, f, run_dir).done() for f in folds):
            continue
        values = fold_values(run_dir, folds)
        finite = [v for v in values.values() if v is not None and math.isfinite(v)]
        recorded[number] = {
            "folds": {str(f): v for f, v in values.items()},
            "mean": statistics.fmean(finite) if finite else None,
            "std": statistics.stdev(finite) if len(finite) > 1 else None,
            "oof": _oof_value({f"trial {number}": run_dir}, folds),
            **_seed_cv(trial, record, folds),
        }
        study.set_user_attr(f"{CV_PREFIX}{number}", recorded[number])
    return recorded


def _seed_cv(trial, record: dict, folds: list[int]) -> dict:
    """With every seed copy's folds done: each seed's mean over folds, the trial's own seed
    first, and the value of the seeds' averaged out-of-fold predictions."""
    runs = seed_runs(trial, record["seeds"]) if record.get("seeds") and trial.number in kept_trials(record) else {}
    if not runs or not all(Job(trial.number, f, run_dir).done() for run_dir in runs.values() for f in folds):
        return {}
    means = {str(seed): statistics.fmean(v for v in fold_values(run_dir, folds).values() if v is not None) for seed, run_dir in runs.items()}
    return {"seeds": means, "seeds_oof": _oof_value({f"seed {seed}": run_dir for seed, run_dir in runs.items()}, folds, averaged=True)}


def _oof_value(runs: dict[str, Path], folds: list[int], averaged: bool = False) -> float | None:
    """The metric of the runs' concatenated out-of-fold predictions (`averaged`: of their
    mean over the runs); None when they do not cover the folds (a study run with
    --limit_val_batches)."""
    try:
        from skp.tune.oofs import run_oofs

        oofs, scorer, _ = run_oofs(runs, folds)
    except SkpError:
        return None
    return scorer(sum(oofs) / len(oofs) if averaged else oofs[0])


def cv_records(study) -> dict[int, dict]:
    return {int(key[len(CV_PREFIX):]): value for key, value in study.user_attrs.items() if key.startswith(CV_PREFIX)}


def cv_ranking(study, numbers: list[int]) -> list[int]:
    """The trials among `numbers` with a mean over the promotion's folds, best first (ties
    in the order given)."""
    cv = cv_records(study)
    sign = -1 if study.direction.name == "MAXIMIZE" else 1
    return sorted((n for n in numbers if cv.get(n, {}).get("mean") is not None), key=lambda n: sign * cv[n]["mean"])


def best_by_cv(study) -> int | None:
    """The promoted trial (or baseline) with the best mean over the promotion's folds."""
    record = promotion(study)
    ranked = cv_ranking(study, promoted_numbers(record)) if record else []
    return ranked[0] if ranked else None


def cv_verdict(study) -> str | None:
    """One sentence: does the best promoted trial beat the baseline fold by fold by more
    than the noise (twice the standard error of the paired differences)?"""
    record, cv = promotion(study), cv_records(study)
    best = best_by_cv(study)
    baseline = (record or {}).get("baseline")
    if best is None or baseline is None or baseline not in cv:
        return None
    if best == baseline:
        return f"the baseline (trial {baseline}) has the best mean over folds: the promoted trials are no better"
    sign = 1 if study.direction.name == "MAXIMIZE" else -1
    gains = [sign * (cv[best]["folds"][f] - cv[baseline]["folds"][f]) for f in cv[best]["folds"]]
    mean = statistics.fmean(gains)
    error = statistics.stdev(gains) / math.sqrt(len(gains)) if len(gains) > 1 else math.nan
    wins = sum(g > 0 for g in gains)
    verdict = "beyond the noise" if mean > 2 * error else "within the noise (a gain counts above 2 standard errors)"
    return (
        f"trial {best} beats the baseline (trial {baseline}) on {wins} of {len(gains)} folds, by {mean:.4g} in the "
        f"mean (paired standard error {error:.2g}): {verdict}"
    )
