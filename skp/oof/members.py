"""Finished runs as sources of out-of-fold predictions, aligned to one reference."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from skp.configs import load_config
from skp.datasets.annotations import data_file
from skp.errors import SkpError
from skp.training.runs import DONE_FILE


@dataclass
class Member:
    name: str
    source: str  # where it came from, for the report
    cfg: object | None = None  # the run's config (None for prediction files)
    overrides: list = field(default_factory=list)  # what rebuilt cfg from its config file
    fold_dirs: dict[int, Path] = field(default_factory=dict)
    files: object | None = None  # a recipe's Files: predictions read from files, not a run
    oof: np.ndarray | None = None  # (N, K), rows in the order of Reference.ids
    test: np.ndarray | None = None  # (N_test, K), rows in the order of the test ids
    provenance: dict | None = None  # what made the run (its run.json)


@dataclass
class Reference:
    """The training rows the blend is fitted on: ids, targets and folds, in annotation order."""

    cfg: object
    folds: list[int]
    ids: np.ndarray
    targets: np.ndarray
    row_folds: np.ndarray


def _finished_folds(directory: Path) -> dict[int, Path]:
    folds = {}
    for fold_dir in directory.glob("fold*"):
        if fold_dir.name[4:].isdigit() and (fold_dir / DONE_FILE).exists() and (fold_dir / "best.pt").exists():
            folds[int(fold_dir.name[4:])] = fold_dir
    return dict(sorted(folds.items()))


def member_from_run_dir(directory: Path, name: str | None, source: str) -> Member:
    meta = json.loads((directory / "run.json").read_text())
    if "overrides" not in meta:
        raise SkpError(
            f"{directory / 'run.json'} does not record the run's overrides (it predates "
            f"skp-ensemble), so its config cannot be rebuilt. Train it again with skp-train."
        )
    overrides = [tuple(pair) for pair in meta["overrides"]]
    cfg = load_config(meta["config_name"], overrides)
    name = name or f"{meta['config_name']}/{directory.name}"
    return Member(
        name=name, source=source, cfg=cfg, overrides=overrides, fold_dirs=_finished_folds(directory),
        provenance=meta.get("provenance"),
    )


def build_reference(members: list[Member], folds: list[int] | None) -> Reference:
    cfg = next(m.cfg for m in members if m.cfg is not None)
    if cfg.prepare_data is not None:
        cfg.prepare_data(cfg)
    frame = pd.read_csv(data_file(cfg, cfg.annotations_file))
    available = sorted(frame[cfg.fold_column].unique().tolist())
    folds = list(folds) if folds is not None else available
    unknown = [f for f in folds if f not in available]
    if unknown:
        raise SkpError(f"Folds {unknown} are not in {cfg.annotations_file}, whose folds are {available}.")
    frame = frame[frame[cfg.fold_column].isin(folds)]
    # segmentation targets are mask files, read by the blend itself: no target columns
    targets = frame[cfg.targets].to_numpy(np.float64) if cfg.targets else np.zeros((len(frame), 0))
    return Reference(cfg, folds, frame[cfg.id_column].to_numpy(), targets, frame[cfg.fold_column].to_numpy())


def check_folds(members: list[Member], reference: Reference) -> None:
    problems = []
    for member in members:
        if member.cfg is None:
            continue
        missing = [f for f in reference.folds if f not in member.fold_dirs]
        if missing:
            run = next(iter(member.fold_dirs.values()), None)
            have = sorted(member.fold_dirs)
            hint = ""
            if "#" in member.name:  # a study trial
                hint = (f" (train them with skp-tune {member.cfg.config_name} --study {member.name.partition('#')[0]} "
                        f"--promote K --promote-folds {','.join(map(str, reference.folds))})")
            elif run is not None:
                flags = "".join(f" --{key} {value}" for key, value in member.overrides)
                hint = (f" (finish them with skp-train {member.cfg.config_name} --run_id {run.parent.name} "
                        f"--kfold {','.join(map(str, missing))}{flags})")
            problems.append(f"{member.name} has finished folds {have}, not {missing}{hint}")
    if problems:
        raise SkpError(
            f"The recipe blends folds {reference.folds}, but " + "; ".join(problems)
            + ". Train the missing folds, or set folds=[...] in the recipe (--folds) to the folds every member has."
        )


def read_table(path: str) -> pd.DataFrame:
    if not Path(path).is_file():
        raise SkpError(f"Prediction file {path} not found.")
    return pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)


def prediction_columns(frame: pd.DataFrame, id_column: str, columns=None) -> list[str]:
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise SkpError(f"Prediction columns {missing} are missing; the file has {list(frame.columns)}.")
        return list(columns)
    preds = [c for c in frame.columns if c == "pred" or c.startswith("pred_")]
    if preds:
        return sorted(preds, key=lambda c: int(c[5:]) if c[5:].isdigit() else -1)
    return [c for c in frame.columns if c not in (id_column, "fold") and not c.startswith("target")]


def align(frame: pd.DataFrame, id_column: str, ids: np.ndarray, columns: list[str], what: str) -> np.ndarray:
    """frame's `columns` as an array in the order of `ids`; an error names missing or extra ids."""
    if id_column not in frame.columns:
        raise SkpError(f"{what} has no id column {id_column!r}; its columns are {list(frame.columns)}.")
    if frame[id_column].duplicated().any():
        dupes = frame[id_column][frame[id_column].duplicated()].head(3).tolist()
        raise SkpError(f"{what} repeats ids (e.g. {dupes}); each id must appear once.")
    indexed = frame.set_index(id_column)
    wanted = pd.Index(ids)
    missing = wanted.difference(indexed.index)
    extra = indexed.index.difference(wanted)
    if len(missing) or len(extra):
        raise SkpError(
            f"{what} does not cover the expected {len(ids)} ids: {len(missing)} missing "
            f"(e.g. {missing[:3].tolist()}), {len(extra)} not expected (e.g. {extra[:3].tolist()}). "
            f"Members must predict the same rows: the same folds of the same annotations."
        )
    values = indexed.loc[wanted, columns].to_numpy(np.float64)
    if not np.isfinite(values).all():
        raise SkpError(f"{what} holds NaN or infinite predictions.")
    return values


def load_oof(member: Member, reference: Reference) -> np.ndarray:
    id_column = reference.cfg.id_column
    if member.files is not None:
        frame = read_table(member.files.oof)
        columns = prediction_columns(frame, id_column, member.files.columns)
        return align(frame, id_column, reference.ids, columns, f"OOF file {member.files.oof} of {member.name}")
    frames = [pd.read_csv(member.fold_dirs[f] / "oof.csv") for f in reference.folds]
    frame = pd.concat(frames, ignore_index=True)
    columns = prediction_columns(frame, member.cfg.id_column)
    return align(frame, member.cfg.id_column, reference.ids, columns, f"The OOF predictions of {member.name}")


def load_all_oof(members: list[Member], reference: Reference) -> None:
    for member in members:
        member.oof = load_oof(member, reference)
    widths = {m.name: m.oof.shape[1] for m in members}
    if len(set(widths.values())) > 1:
        raise SkpError(f"Members predict different numbers of columns: {widths}. Blend members of one task.")
