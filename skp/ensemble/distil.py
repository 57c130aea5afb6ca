"""skp-ensemble --distil: a student trained on every fold against the blend (knowledge distillation).

The leak, and the guard. The blend's OOF prediction for a row of fold j comes from the
fold-j models, which trained on every other fold's labels, fold k's among them. A student
validated on fold k that learns from those predictions learns fold k's labels through
them, and its CV on fold k is optimistic.

teacher="folds" (the default) builds fold k's targets from the fold-k checkpoints alone,
which never saw fold k: they predict every training row (the rows they trained on, so
more confidently than out of fold; the temperature softens that), and the blend that
combines them is fitted on the OOF rows outside fold k. The student's fold-k CV is then
as honest as any member's. It costs one pass of each kept member's fold checkpoints over
the training rows (cached like every prediction).

teacher="oof" uses the blend's OOF predictions: no inference, the usual shortcut, but the
student's CV is optimistic. The report says so, and only test labels can judge it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from skp.console import progress_bar
from skp.datasets.annotations import data_file
from skp.ensemble.blend import BLENDS
from skp.ensemble.costs import member_cost
from skp.ensemble.submission import write_csv_atomically
from skp.errors import SkpError
from skp.oof.members import load_oof, member_from_run_dir
from skp.tasks.distillation import EPSILON, teacher_file


def teacher_blend(summary: dict, count: int) -> tuple[str, list[int]]:
    """The blend method and the members (indices) that make the submission: auto's
    choice, else the recipe's method on every member."""
    choice = summary.get("auto")
    method, kept = (choice["method"], list(choice["kept"])) if choice else (summary["method"], list(range(count)))
    if method == "rank":
        raise SkpError(
            "The blend is a rank blend, whose values are ranks, not predictions a student can learn "
            "from. Distil from a recipe with another blend (--blend mean, greedy or simplex)."
        )
    return method, kept


def blend_rows(method: str, oofs: list, preds: list, fit_rows: np.ndarray, scorer, problem: str, options: dict) -> np.ndarray:
    """`preds` (one array per kept member) blended as `method` blends once fitted on the
    OOF rows `fit_rows`."""
    if method == "best member":
        return preds[0]
    blend = BLENDS[method]
    return blend.apply(blend.fit(oofs, scorer, fit_rows, problem, options), preds, problem)


def as_targets(pred: np.ndarray, problem: str) -> np.ndarray:
    if problem == "multiclass":  # rows that sum to 1, whatever the blend's rounding
        pred = np.clip(pred, EPSILON, None)
        pred = pred / pred.sum(1, keepdims=True)
    return pred.astype(np.float32)


def annotation_ids(cfg) -> np.ndarray:
    return pd.read_csv(data_file(cfg, cfg.annotations_file))[cfg.id_column].to_numpy()


def hard_labels(pred: np.ndarray, problem: str) -> np.ndarray:
    """The labels a teacher's predictions imply, shaped as the annotations' target columns."""
    if problem == "multiclass":
        return pred.argmax(1)[:, None].astype(np.float32)
    if problem in ("binary", "multilabel"):
        return (pred > 0.5).astype(np.float32)
    return pred


@dataclass
class Teacher:
    """What the student of each fold learns from: predictions for every training row
    (`ids`), and with pseudo-labels for every test image (`test_ids`)."""

    ids: np.ndarray
    folds: dict[int, np.ndarray]
    test_ids: np.ndarray | None = None
    test: dict[int, np.ndarray] | None = None


def fold_teachers(recipe, members, predictor, inputs, method: str, kept: list[int]) -> Teacher:
    """The teacher of every fold the student trains: `method` blending the members `kept`
    (teacher_blend; see the module's docstring)."""
    scorer, problem = inputs.scorer(predictor.reference.cfg), inputs.problem
    options = {"power": recipe.power, "rounds": recipe.greedy_rounds}
    oofs = [inputs.oofs[i] for i in kept]
    pseudo = recipe.distil.pseudo_labels

    def blended(preds, fit_rows):
        return as_targets(blend_rows(method, oofs, preds, fit_rows, scorer, problem, options), problem)

    if recipe.distil.teacher == "oof":
        ids = annotation_ids(predictor.reference.cfg)
        if len(ids) != len(inputs.ids):
            raise SkpError(
                f"teacher='oof' needs the blend's OOF predictions of every training row, but the recipe "
                f"blends folds {inputs.folds} only. Blend every fold, or use teacher='folds'."
            )
        everything = np.arange(len(inputs.ids))
        oof, test = blended(oofs, everything), blended([inputs.tests[i] for i in kept], everything) if pseudo else None
        return Teacher(inputs.ids, {fold: oof for fold in inputs.folds}, inputs.test_ids, {fold: test for fold in inputs.folds} if pseudo else None)
    files = [members[i].name for i in kept if members[i].cfg is None]
    if files:
        raise SkpError(
            f"Members {files} are prediction files: they have no fold checkpoints to predict the "
            f"training rows with, which teacher='folds' needs. Use teacher='oof' (its student's CV "
            f"is optimistic) or leave the files out of the recipe."
        )
    if pseudo and recipe.soup:
        raise SkpError(
            "Pseudo-labels for fold k come from the fold-k checkpoints' test predictions, and a soup "
            "(soup=True) averages every fold into one model that saw fold k. Drop one of the two."
        )
    ids = annotation_ids(predictor.reference.cfg)
    teacher = Teacher(ids, {}, inputs.test_ids if pseudo else None, {} if pseudo else None)
    with progress_bar() as progress:
        for index, fold in enumerate(inputs.folds):
            outside = np.flatnonzero(inputs.row_folds != fold)
            teacher.folds[fold] = blended([predictor.training_rows(members[i], fold, ids, progress) for i in kept], outside)
            if pseudo:  # the fold-k checkpoint's test predictions: in fold order (Predictor.pieces)
                views = [predictor.pieces[members[i].name]["test"] for i in kept]
                teacher.test[fold] = blended([np.mean([groups[index] for groups in view.values()], axis=0) for view in views], outside)
    return teacher


def _table(id_column: str, ids, pred: np.ndarray, labels: np.ndarray | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(pred, columns=[f"p{j}" for j in range(pred.shape[1])])
    if labels is not None:
        frame[[f"y{j}" for j in range(labels.shape[1])]] = labels
    frame.insert(0, id_column, ids)
    return frame


def write_teachers(root: Path, id_column: str, teacher: Teacher, problem: str) -> Path:
    """The teacher's tables under a folder named by their content: a changed teacher is a
    new folder, so its student is a new run and never a stale one resumed."""
    tables = {teacher_file(Path(), fold): _table(id_column, teacher.ids, pred) for fold, pred in teacher.folds.items()}
    for fold, pred in (teacher.test or {}).items():
        tables[teacher_file(Path(), fold, test=True)] = _table(id_column, teacher.test_ids, pred, hard_labels(pred, problem))
    digest = hashlib.sha1()
    for name in sorted(tables, key=str):
        digest.update(str(name).encode() + pd.util.hash_pandas_object(tables[name], index=False).to_numpy().tobytes())
    folder = root / "teachers" / digest.hexdigest()[:12]
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if not (folder / name).is_file():
            write_csv_atomically(frame, folder / name)
    return folder.resolve()


def train_student(spec, teacher: Path, folds: list[int]) -> Path:
    """The student's run directory, trained (or resumed, or found finished) on `folds`."""
    from skp.training.folds import check_finite, train_folds

    overrides = [
        *spec.overrides,
        "--distil.teacher", str(teacher),
        "--distil.temperature", repr(float(spec.temperature)),
        "--distil.weight", repr(float(spec.weight)),
        "--distil.pseudo_labels", str(bool(spec.pseudo_labels)),
    ]
    results = train_folds(spec.config, overrides, kfold=",".join(str(f) for f in folds))
    check_finite(results)
    return Path(results[0]["fold_dir"]).parent


def judge_student(directory: Path, predictor, inputs) -> dict:
    """The student scored like a member: OOF (held-out labels; with the recipe's TTA views),
    test when labels are known, and its inference cost."""
    member = member_from_run_dir(directory, None, str(directory))
    member.oof = load_oof(member, predictor.reference)
    with progress_bar() as progress:
        predictor.predict(member, progress)
    cfg = predictor.reference.cfg
    return {
        "name": member.name,
        "run_dir": str(directory),
        "oof": inputs.scorer(cfg)(member.oof),
        "test": inputs.scorer(cfg, test=True)(member.test) if inputs.test_targets is not None else None,
        "cost": member_cost(predictor.costs.get(member.name)),
    }


def gap_closed(best: float | None, student: float | None, blend: float | None, direction: str) -> float | None:
    """How much of the best member's distance to the blend the student covers (1: all of it)."""
    if None in (best, student, blend):
        return None
    sign = 1.0 if direction == "max" else -1.0
    full = sign * (blend - best)
    return sign * (student - best) / full if full > 0 else None


def distil(recipe, members, predictor, inputs, summary: dict) -> dict:
    """Write the teacher, train the student on every fold, judge it: the summary's "distil"."""
    spec = recipe.distil
    method, kept = teacher_blend(summary, len(members))
    teacher = write_teachers(Path(recipe.output), inputs.id_column, fold_teachers(recipe, members, predictor, inputs, method, kept), inputs.problem)
    print(f"skp-ensemble: training the student {spec.config} against the teacher in {teacher}", flush=True)
    directory = train_student(spec, teacher, inputs.folds)
    student = judge_student(directory, predictor, inputs)
    best = next(row for row in summary["members"] if row["name"] == summary["best_member"])
    blend = summary["blend"]
    return {
        "config": spec.config,
        "overrides": list(spec.overrides),
        "teacher": spec.teacher,
        "temperature": spec.temperature,
        "weight": spec.weight,
        "pseudo_labels": spec.pseudo_labels,
        "teacher_blend": {"method": method, "members": [members[i].name for i in kept]},
        "teacher_dir": str(teacher),
        "run": {"config": spec.config, "run_id": directory.name},
        # fold k's targets never saw fold k (teacher="folds"), so the student's CV is honest
        "cv_is_honest": spec.teacher == "folds",
        "student": student,
        "gap_closed": {
            "oof": gap_closed(best["oof"], student["oof"], blend["oof_cross_validated"], summary["direction"]),
            "test": gap_closed(best["test"], student["test"], blend["test"], summary["direction"]),
        },
    }
