"""What skp-ensemble does: check every member, predict (cached), blend, write the submission."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from skp.datasets.annotations import data_file
from skp.ensemble.blend import Scorer, blend, problem_of
from skp.ensemble.members import (
    Member,
    Reference,
    align,
    build_reference,
    check_folds,
    load_all_oof,
    prediction_columns,
    read_table,
    resolve_members,
)
from skp.ensemble.predict import (
    PredictionCache,
    build_dataset,
    build_model,
    build_task,
    check_weights,
    data_signature,
    file_digest,
    inference_config,
    inference_loader,
    load_weights,
    run_inference,
    soup,
    tta_views,
)
from skp.ensemble.recipe import Recipe, check_recipe, ensembles_root
from skp.ensemble.report import write_report
from skp.ensemble.submission import check_submission, default_submission, write_csv_atomically
from skp.errors import SkpError
from skp.provenance import provenance


@dataclass
class TestSet:
    ids: np.ndarray
    sample: pd.DataFrame
    solution: pd.DataFrame | None


def _optional_file(cfg, explicit: str | None, attribute: str) -> Path | None:
    name = explicit or getattr(cfg, attribute)
    return data_file(cfg, name) if name else None


def load_test_set(recipe: Recipe, cfg) -> TestSet:
    dataset = build_dataset(inference_config(cfg, "inference", None, None, recipe.test_file), "inference")
    sample_path = _optional_file(cfg, recipe.sample_submission, "sample_submission_file")
    if sample_path is None or not sample_path.is_file():
        raise SkpError(
            f"No sample submission at {sample_path} (cfg.sample_submission_file of {cfg.config_name}). "
            f"Set sample_submission='path.csv' in the recipe (--sample-submission)."
        )
    sample = pd.read_csv(sample_path)
    if cfg.id_column not in sample.columns:
        raise SkpError(f"{sample_path} has no id column {cfg.id_column!r}; its columns are {list(sample.columns)}.")
    solution_path = _optional_file(cfg, recipe.solution, "solution_file")
    solution = pd.read_csv(solution_path) if solution_path is not None and solution_path.is_file() else None
    return TestSet(np.asarray(dataset.ids), sample, solution)


class Predictor:
    """Test (and with TTA, OOF) predictions of skp members from their fold checkpoints."""

    def __init__(self, recipe: Recipe, reference: Reference, test_ids, cache: PredictionCache):
        self.recipe, self.reference, self.test_ids, self.cache = recipe, reference, test_ids, cache
        self.views = tta_views(recipe.tta)
        self.digests: dict[Path, str] = {}
        self.states: dict[Path, dict] = {}  # memory-mapped: read from disk once, when used

    def checkpoints(self, member: Member) -> list[Path]:
        return [member.fold_dirs[f] / "best.pt" for f in self.reference.folds]

    def digest(self, path: Path) -> str:
        if path not in self.digests:
            self.digests[path] = file_digest(path)
        return self.digests[path]

    def state(self, path: Path) -> dict:
        if path not in self.states:
            self.states[path] = load_weights(path, self.recipe.weights, mmap=True)
        return self.states[path]

    def preflight(self, members: list[Member]) -> None:
        """Every checkpoint must fit its member's model: checked before any inference."""
        for member in members:
            if member.cfg is None:
                continue
            model = build_model(inference_config(member.cfg, "inference", None, None, None))
            for path in self.checkpoints(member):
                check_weights(model, self.state(path), path, member.cfg.config_name)

    def _predict(self, member: Member, groups: list[list[Path]], mode: str, fold, view_name, progress):
        """Predictions of several models (each one checkpoint, or the soup of several) on
        one view of one data set: cached ones are read, the others share one pass over the
        data, so images are decoded and transformed once per view, not once per fold."""
        view = self.views[view_name]
        cfg = inference_config(member.cfg, mode, fold, view, self.recipe.test_file)
        dataset = build_dataset(cfg, mode)
        signature = data_signature(dataset)
        keys = [
            self.cache.key([self.digest(p) for p in paths], self.recipe.weights, mode, fold, signature, view_name, repr(view), cfg.to_json())
            for paths in groups
        ]
        preds = [self.cache.get(key) for key in keys]
        todo = [i for i, pred in enumerate(preds) if pred is None]
        if todo:
            task = build_task(cfg)
            models = []
            for i in todo:
                model = copy.deepcopy(task.model) if models else task.model
                paths = groups[i]
                model.load_state_dict(soup([self.state(p) for p in paths]) if len(paths) > 1 else self.state(paths[0]))
                models.append(model)
            loader = inference_loader(dataset, cfg, self.recipe.batch_size)
            where = f"fold {fold}" if mode == "val" else f"{len(models)} model(s)"
            job = progress.add_task(f"{member.name} {mode} {where} {view_name}", total=len(loader))
            computed = run_inference(task, models, loader, lambda: progress.advance(job))
            progress.remove_task(job)
            for i, pred in zip(todo, computed):
                self.cache.put(keys[i], pred)
                preds[i] = pred
        return preds, np.asarray(dataset.ids)

    def _test_pred(self, member: Member, progress) -> np.ndarray:
        paths = self.checkpoints(member)
        groups = [paths] if self.recipe.soup else [[p] for p in paths]
        views = []
        for view_name in self.views:
            preds, ids = self._predict(member, groups, "inference", None, view_name, progress)
            views.append(self._in_order(np.mean(preds, axis=0), ids, self.test_ids, f"test predictions of {member.name}"))
        return np.mean(views, axis=0)

    def _oof_with_tta(self, member: Member, progress) -> np.ndarray:
        """The plain view comes from oof.csv; the other views are predicted fold by fold."""
        id_column = self.reference.cfg.id_column
        views = [member.oof]
        for view_name in list(self.views)[1:]:
            frames = []
            for fold in self.reference.folds:
                (pred,), ids = self._predict(member, [[member.fold_dirs[fold] / "best.pt"]], "val", fold, view_name, progress)
                frames.append(pd.DataFrame(pred, columns=[f"p{j}" for j in range(pred.shape[1])]).assign(**{id_column: ids}))
            frame = pd.concat(frames, ignore_index=True)
            views.append(align(frame, id_column, self.reference.ids, [c for c in frame.columns if c != id_column], f"TTA OOF of {member.name}"))
        return np.mean(views, axis=0)

    @staticmethod
    def _in_order(pred, ids, wanted, what) -> np.ndarray:
        frame = pd.DataFrame(pred).assign(_id=ids)
        return align(frame, "_id", wanted, list(range(pred.shape[1])), what)

    def predict(self, member: Member, progress) -> None:
        if member.files is not None:
            frame = read_table(member.files.test)
            id_column = self.reference.cfg.id_column
            columns = prediction_columns(frame, id_column, member.files.columns)
            member.test = align(frame, id_column, self.test_ids, columns, f"Test file {member.files.test} of {member.name}")
            return
        if len(self.views) > 1:
            member.oof = self._oof_with_tta(member, progress)
        member.test = self._test_pred(member, progress)


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())


def output_folder(recipe: Recipe, project: str) -> Path:
    return Path(recipe.output) if recipe.output else ensembles_root() / project / recipe.name


def run_ensemble(recipe: Recipe, use_cache: bool = True) -> dict:
    """Everything skp-ensemble does for a recipe; returns the summary written to weights.json."""
    started = time.time()
    check_recipe(recipe)
    members = resolve_members(recipe)
    reference = build_reference(members, recipe.folds)
    check_folds(members, reference)
    load_all_oof(members, reference)
    cfg = reference.cfg
    problem = problem_of(cfg, members[0].oof.shape[1])
    scorer = Scorer(cfg, problem, recipe.metric, recipe.direction, members[0].oof, reference.targets)
    test = load_test_set(recipe, cfg)
    cache = PredictionCache(ensembles_root() / ".cache" if use_cache else None)
    predictor = Predictor(recipe, reference, test.ids, cache)
    predictor.preflight(members)

    with _progress() as progress:
        overall = progress.add_task("members", total=len(members))
        for member in members:
            predictor.predict(member, progress)
            progress.advance(overall)
    predicted = time.time()

    result = blend(
        recipe.blend, [m.oof for m in members], [m.test for m in members], scorer,
        reference.row_folds, problem, recipe.power, recipe.greedy_rounds,
    )
    frame = (recipe.to_submission or _default_to_submission(cfg, problem, recipe))(test.ids, result.test, test.sample)
    submission = check_submission(frame, test.sample, cfg.id_column)

    folder = output_folder(recipe, cfg.project)
    folder.mkdir(parents=True, exist_ok=True)
    write_csv_atomically(submission, folder / "submission.csv")
    _write_predictions(folder / "oof.csv", cfg.id_column, reference.ids, result.oof, reference.row_folds)
    _write_predictions(folder / "test_predictions.csv", cfg.id_column, test.ids, result.test)
    summary = _summary(recipe, reference, members, result, scorer, test, problem, cache)
    summary["seconds"] = {"predict": round(predicted - started, 2), "blend_and_write": round(time.time() - predicted, 2)}
    (folder / "weights.json").write_text(json.dumps(summary, indent=2))
    write_report(folder, summary, members)
    summary["folder"] = str(folder)
    return summary


def _default_to_submission(cfg, problem, recipe):
    return lambda ids, pred, sample: default_submission(ids, pred, sample, cfg.id_column, problem, recipe.class_names)


def _write_predictions(path: Path, id_column: str, ids, pred: np.ndarray, folds=None) -> None:
    frame = pd.DataFrame({id_column: ids})
    if folds is not None:
        frame["fold"] = folds
    for j in range(pred.shape[1]):
        frame[f"pred_{j}" if pred.shape[1] > 1 else "pred"] = pred[:, j]
    write_csv_atomically(frame, path)


def _test_scorer(cfg, problem, scorer: Scorer, test: TestSet, sample_pred):
    """A scorer on the test labels, when a solution file gives them."""
    if test.solution is None:
        return None
    missing = [c for c in [cfg.id_column, *cfg.targets] if c not in test.solution.columns]
    if missing:
        raise SkpError(f"The solution file lacks columns {missing}; it needs the id and cfg.targets columns.")
    targets = align(test.solution, cfg.id_column, test.ids, list(cfg.targets), "The solution file")
    return Scorer(cfg, problem, scorer.name, scorer.direction, sample_pred, targets)


def _summary(recipe, reference, members, result, scorer, test, problem, cache) -> dict:
    cfg = reference.cfg
    test_scorer = _test_scorer(cfg, problem, scorer, test, result.test)
    rows = []
    for i, member in enumerate(members):
        rows.append({
            "name": member.name,
            "source": member.source,
            "weight": None if result.weights is None else round(float(result.weights[i]), 4),
            "oof": scorer(member.oof),
            "test": test_scorer(member.test) if test_scorer else None,
            "provenance": member.provenance,
        })
    best = max(rows, key=lambda r: r["oof"] if scorer.direction == "max" else -r["oof"])
    blend_oof, blend_cv = scorer(result.oof), scorer(result.cv_oof)
    gain = blend_cv - best["oof"] if scorer.direction == "max" else best["oof"] - blend_cv
    return {
        "recipe": recipe.name,
        "method": recipe.blend,
        "problem": problem,
        "metric": scorer.name,
        "direction": scorer.direction,
        "folds": [int(f) for f in reference.folds],
        "tta": list(tta_views(recipe.tta)),
        "members": rows,
        "best_member": best["name"],
        "blend": {
            "oof": blend_oof,
            "oof_cross_validated": blend_cv,
            "test": test_scorer(result.test) if test_scorer else None,
            # measured on rows the weights were not fitted on, so the gain is not optimistic;
            # positive is better whatever the metric's direction
            "gain_over_best_member": gain,
        },
        "cache": {"hits": cache.hits, "misses": cache.misses},
        # this blend's own: skp and library versions, host, the recipe file's commit
        "provenance": provenance([recipe.file] if recipe.file else []),
    }
