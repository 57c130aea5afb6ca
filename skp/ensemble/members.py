"""Recipe members -> run directories and configs: the runs, study trials and files a recipe names."""

from __future__ import annotations

import json
from pathlib import Path

from skp.configs import load_config
from skp.ensemble.recipe import Recipe, Run, Study
from skp.errors import SkpError
from skp.oof.members import Member, member_from_run_dir
from skp.training.runs import default_run_id, run_dir, run_fingerprint


def _runs_listing(directory: Path) -> str:
    runs = []
    for meta_file in sorted(directory.glob("*/run.json")):
        meta = json.loads(meta_file.read_text())
        runs.append(f"{meta_file.parent.name} ({meta.get('command', '?')})")
    return "; ".join(runs) or "(none)"


def run_member(spec: Run) -> Member:
    if spec.path:
        directory = Path(spec.path)
        if not (directory / "run.json").is_file():
            raise SkpError(f"{directory} is not an skp run directory (it has no run.json).")
        return member_from_run_dir(directory, spec.name, str(directory))
    cfg = load_config(spec.config)
    run_id = spec.run_id or default_run_id(run_fingerprint(cfg, []))
    directory = run_dir(cfg, run_id)
    if not (directory / "run.json").is_file():
        which = f"run {run_id!r}" if spec.run_id else f"run {run_id!r} of the plain `skp-train {spec.config}`"
        raise SkpError(
            f"Member {spec.config}: no {which} under {directory.parent}. Runs there: "
            f"{_runs_listing(directory.parent)}. Train it, or name one with Run({spec.config!r}, run_id=...)."
        )
    return member_from_run_dir(directory, spec.name, str(directory))


def ranked_trials(study, complete: list) -> list:
    """The promoted trials (skp-tune --promote: they have every fold), else the complete
    trials by value. Promoted by value, they rank by their mean over folds (a fold-0 value
    is a noisy pick); promoted by ensemble, in the order the greedy selection added them."""
    from skp.tune.promote import cv_ranking, kept_trials, promotion

    record = promotion(study)
    if record:
        by_number = {t.number: t for t in complete}
        numbers = [n for n in kept_trials(record) if n in by_number]
        if record["by"] == "value":
            ranked = cv_ranking(study, numbers)
            numbers = ranked + [n for n in numbers if n not in ranked]  # not cross-validated yet: last
        return [by_number[n] for n in numbers]
    maximize = study.direction.name == "MAXIMIZE"
    return sorted(complete, key=lambda t: -t.value if maximize else t.value)


def study_baseline(study, spec: Study):
    """The study's baseline trial: the one promotion trained on every fold, else the finished one."""
    from skp.tune.baseline import baseline_trial
    from skp.tune.promote import promotion

    record = promotion(study) or {}
    if record.get("baseline") is not None:
        return study.get_trials(deepcopy=False)[record["baseline"]]
    trial = baseline_trial(study)
    if trial is None:
        raise SkpError(
            f"Study {spec.study!r} has no finished baseline trial, which Study(..., baseline=True) adds "
            f"(skp-tune runs it first in every study it starts). Drop baseline=True, or run the study's trials first."
        )
    return trial


def study_members(spec: Study) -> list[Member]:
    from skp.tune.study import default_storage_path, import_optuna, make_storage, studies_root

    optuna = import_optuna()
    if spec.storage is None and not default_storage_path(spec.study).is_file():
        known = sorted(p.parent.name for p in studies_root().glob("*/journal.log"))
        raise SkpError(
            f"No study {spec.study!r} under {studies_root().resolve()}; studies there: "
            f"{', '.join(known) or '(none)'}. Run skp-tune first or pass the study's storage."
        )
    storage = make_storage(spec.storage, spec.study)
    try:
        study = optuna.load_study(study_name=spec.study, storage=storage)
    except KeyError:
        names = optuna.get_all_study_names(storage)
        raise SkpError(f"Storage {spec.storage} has no study {spec.study!r}; it has {names}.") from None
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise SkpError(f"Study {spec.study!r} has no finished trial yet; nothing to ensemble.")
    best = ranked_trials(study, complete)[: spec.top_k]
    if len(best) < spec.top_k:
        print(f"skp-ensemble: study {spec.study!r} has {len(best)} ranked trials, fewer than top_k={spec.top_k}.")
    if spec.baseline:
        baseline = study_baseline(study, spec)
        best += [baseline] if baseline.number not in {t.number for t in best} else []
    members = []
    for trial in best:
        directory = Path(trial.user_attrs.get("run_dir", ""))
        if not (directory / "run.json").is_file():
            raise SkpError(
                f"Trial {trial.number} of study {spec.study!r} points at run directory {directory}, "
                f"which is gone. Remove the trial from the recipe or lower top_k."
            )
        source = f"study {spec.study} trial {trial.number} ({trial.value:.6g})"
        members.append(member_from_run_dir(directory, f"{spec.study}#{trial.number}", source))
        for seed, copy in study_seed_copies(study, spec, trial).items():
            members.append(member_from_run_dir(copy, f"{spec.study}#{trial.number}-seed{seed}", f"{source} at seed {seed}"))
    return members


def study_seed_copies(study, spec: Study, trial) -> dict:
    """{seed: run directory} of the trial's seed copies when the recipe asks for them and
    promotion trained them (skp-tune --promote-seeds); none for the baseline promoted as
    the reference only."""
    from skp.tune.baseline import is_baseline
    from skp.tune.promote import Job, kept_trials, promotion, seed_copies

    record = promotion(study) or {}
    if not spec.seeds or (is_baseline(trial) and trial.number not in record.get("trials", [])):
        return {}
    if not record.get("seeds") or trial.number not in kept_trials(record):
        raise SkpError(
            f"Study {spec.study!r} has no seed copies of trial {trial.number}, which Study(..., seeds=True) adds: "
            f"train them with skp-tune CONFIG --study {spec.study} --promote K --promote-seeds S (the trial among the K), or drop seeds=True."
        )
    copies = seed_copies(trial, record["seeds"])
    unfinished = sorted(seed for seed, run in copies.items() if not all(Job(trial.number, f, run).done() for f in record["folds"]))
    if unfinished:
        raise SkpError(
            f"Trial {trial.number} of study {spec.study!r} has seed copies with folds missing (seeds {unfinished}): "
            f"re-run skp-tune CONFIG --study {spec.study} --promote K --promote-seeds {record['seeds']} to finish them."
        )
    return copies


def resolve_members(recipe: Recipe) -> list[Member]:
    members = []
    for spec in recipe.members:
        if isinstance(spec, Run):
            members.append(run_member(spec))
        elif isinstance(spec, Study):
            members.extend(study_members(spec))
        else:
            members.append(Member(name=spec.name, source=f"files {spec.oof}, {spec.test}", files=spec))
    names = [m.name for m in members]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SkpError(f"Members {repeated} appear more than once in the recipe; give each a distinct name.")
    if not any(m.cfg is not None for m in members):
        raise SkpError(
            "Every member is a prediction file; name at least one skp run or study so the "
            "targets, folds, test ids and submission format come from its config."
        )
    return members


