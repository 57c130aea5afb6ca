"""skp-train --reproduce: run a recorded run again, exactly, into a new run directory.

The target is a run directory (holding run.json) or a study's trial, `STUDY:NUMBER`.
The run's config name, overrides (a trial's parameters included), seed and Trainer
flags come from its run.json; its config files must still be what they were (their
hashes are in run.json), or the command stops and names the commit that had them.
Afterwards each fold's monitored values are compared, epoch by epoch, with the
original's: on a CPU they are equal.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from skp.errors import SkpError
from skp.provenance import changed_sources
from skp.training.runs import read_run_meta


def run_meta(directory: Path) -> dict:
    """The run.json of the run to reproduce (`directory`: a path given, or a study trial's)."""
    meta = read_run_meta(directory)
    if meta is None:
        raise SkpError(
            f"--reproduce takes a run directory holding run.json, or STUDY:TRIAL (e.g. "
            f"digits.cfg_baseline:3); {directory} has no run.json."
        )
    return meta


def check_sources(meta: dict) -> None:
    record = meta.get("provenance")
    if record is None:
        raise SkpError(f"Run {meta.get('run_id')} predates provenance records (no 'provenance' in run.json), so it cannot be checked; train it again instead.")
    changed = changed_sources(record)
    if changed:
        git = record.get("config_git") or {}
        where = f" (commit {git['commit']}{', with uncommitted changes' if git.get('dirty') else ''})" if git.get("commit") else ""
        raise SkpError(
            f"The config files of run {meta['run_id']} changed since it ran{where}: "
            f"{', '.join(changed)}. Check out the code it ran with (the run keeps copies "
            f"under config_src/), then reproduce it."
        )


def new_run_id(directory: Path) -> str:
    k = 1
    while (directory.parent / f"{directory.name}-repro{k}").exists():
        k += 1
    return f"{directory.name}-repro{k}"


def _monitored(fold_dir: Path, metric: str) -> list[float]:
    history = fold_dir / "history.csv"
    column = f"val/{metric}"
    if not history.is_file():
        return []
    frame = pd.read_csv(history)
    return frame[column].tolist() if column in frame else []


def compare(original: Path, copy: Path, folds: list[int], metric: str) -> list[dict]:
    """Per fold: the monitored values of the epochs both runs trained, and whether they are equal."""
    rows = []
    for fold in folds:
        before, after = _monitored(original / f"fold{fold}", metric), _monitored(copy / f"fold{fold}", metric)
        common = min(len(before), len(after))
        gap = max((abs(a - b) for a, b in zip(before[:common], after[:common])), default=math.nan)
        rows.append({"fold": fold, "epochs_compared": common, "max_difference": gap, "identical": common > 0 and gap == 0.0})
    return rows


def reproduce(directory: Path, train_folds) -> list[dict]:
    """Train the run in `directory` again into `<run id>-repro<k>`; returns compare()'s rows."""
    meta = run_meta(directory)
    check_sources(meta)
    folds = sorted(int(d.name[4:]) for d in directory.glob("fold*") if d.name[4:].isdigit())
    if not folds:
        raise SkpError(f"Run {directory} has no fold directories: nothing was trained to reproduce.")
    run_id = new_run_id(directory)
    print(f"skp-train: reproducing {directory} (folds {folds}) as run {run_id}")
    results = train_folds(
        meta["config_name"],
        meta["overrides"],
        kfold=",".join(map(str, folds)),
        run_id=run_id,
        debug=meta.get("debug", False),
        trainer_kwargs=meta.get("trainer_kwargs", {}),
    )
    rows = compare(directory, Path(results[0]["fold_dir"]).parent, folds, results[0]["val_metric"])
    for row in rows:
        verdict = "identical" if row["identical"] else f"max difference {row['max_difference']:.3g}"
        print(f"skp-train: fold {row['fold']}: {row['epochs_compared']} epochs compared with the original, {verdict}")
    return rows
