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
from skp.tasks.distillation import teacher_file

EPSILON = 1e-7


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


def fold_teachers(recipe, members, predictor, inputs, summary) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """(ids, {fold: the teacher's predictions for those ids}) for every fold the student trains."""
    method, kept = teacher_blend(summary, len(members))
    scorer, problem = inputs.scorer(predictor.reference.cfg), inputs.problem
    options = {"power": recipe.power, "rounds": recipe.greedy_rounds}
    oofs = [inputs.oofs[i] for i in kept]
    if recipe.distil.teacher == "oof":
        ids = annotation_ids(predictor.reference.cfg)
        if len(ids) != len(inputs.ids):
            raise SkpError(
                f"teacher='oof' needs the blend's OOF predictions of every training row, but the recipe "
                f"blends folds {inputs.folds} only. Blend every fold, or use teacher='folds'."
            )
        everything = np.arange(len(inputs.ids))
        oof = as_targets(blend_rows(method, oofs, oofs, everything, scorer, problem, options), problem)
        return inputs.ids, {fold: oof for fold in inputs.folds}
    files = [members[i].name for i in kept if members[i].cfg is None]
    if files:
        raise SkpError(
            f"Members {files} are prediction files: they have no fold checkpoints to predict the "
            f"training rows with, which teacher='folds' needs. Use teacher='oof' (its student's CV "
            f"is optimistic) or leave the files out of the recipe."
        )
    ids = annotation_ids(predictor.reference.cfg)
    teachers = {}
    with progress_bar() as progress:
        for fold in inputs.folds:
            preds = [predictor.training_rows(members[i], fold, ids, progress) for i in kept]
            outside = np.flatnonzero(inputs.row_folds != fold)
            teachers[fold] = as_targets(blend_rows(method, oofs, preds, outside, scorer, problem, options), problem)
    return ids, teachers


def write_teachers(root: Path, id_column: str, ids: np.ndarray, teachers: dict[int, np.ndarray]) -> Path:
    """The teacher's tables under a folder named by their content: a changed teacher is a
    new folder, so its student is a new run and never a stale one resumed."""
    digest = hashlib.sha1(np.asarray(ids).astype(str).tobytes())
    for fold in sorted(teachers):
        digest.update(f"fold{fold}".encode() + np.ascontiguousarray(teachers[fold]).tobytes())
    folder = root / "teachers" / digest.hexdigest()[:12]
    folder.mkdir(parents=True, exist_ok=True)
    for fold, pred in teachers.items():
        if not teacher_file(folder, fold).is_file():
            frame = pd.DataFrame(pred, columns=[f"p{j}" for j in range(pred.shape[1])])
            frame.insert(0, id_column, ids)
            write_csv_atomically(frame, teacher_file(folder, fold))
    return folder.resolve()


def train_student(spec, teacher: Path, folds: list[int]) -> Path:
    """The student's run directory, trained (or resumed, or found finished) on `folds`."""
    from skp.training.folds import check_finite, train_folds

    overrides = [
        *spec.overrides,
        "--distil.teacher", str(teacher),
        "--distil.temperature", repr(float(spec.temperature)),
        "--distil.weight", repr(float(spec.weight)),
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
    ids, teachers = fold_teachers(recipe, members, predictor, inputs, summary)
    teacher = write_teachers(Path(recipe.output), inputs.id_column, ids, teachers)
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
