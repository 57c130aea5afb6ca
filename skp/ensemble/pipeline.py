"""What skp-ensemble does: check every member, predict (cached), blend, write the submission."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from skp.console import is_terminal, progress_bar
from skp.datasets.annotations import data_file
from skp.ensemble.costs import member_cost
from skp.ensemble.fold_pooling import views_averaged
from skp.ensemble.inputs import BlendInputs, save_snapshot
from skp.ensemble.members import resolve_members
from skp.ensemble.output import blend_and_write
from skp.ensemble.predict import (
    PredictionCache,
    build_dataset,
    build_model,
    build_task,
    check_weights,
    data_signature,
    inference_batch_size,
    inference_config,
    inference_loader,
    load_weights,
    run_inference,
    soup,
    tta_views,
)
from skp.ensemble.recipe import Recipe, Study, check_recipe, ensembles_root
from skp.ensemble.segmentation import is_segmentation, run_segmentation_ensemble
from skp.ensemble.testset import TestSet, load_test_set, test_targets
from skp.errors import SkpError
from skp.faults import reach
from skp.oof.members import Member, Reference, align, build_reference, check_folds, load_all_oof, prediction_columns, read_table
from skp.oof.scoring import make_scorer, problem_of
from skp.provenance import device_name

REMEASURE_BATCHES = 10  # timed batches per model and view with --remeasure-costs (after one warm-up batch)


class Predictor:
    """Test (and with TTA, OOF) predictions of skp members from their fold checkpoints."""

    def __init__(self, recipe: Recipe, reference: Reference, test_ids, cache: PredictionCache, remeasure_costs: bool = False):
        self.recipe, self.reference, self.test_ids, self.cache = recipe, reference, test_ids, cache
        self.remeasure_costs = remeasure_costs
        self.views = tta_views(recipe.tta)
        self.states: dict[Path, dict] = {}  # memory-mapped: read from disk once, when used
        self.prepared: dict[tuple, tuple] = {}
        self.costs: dict[str, dict] = {}  # member -> view -> cost of each test group (None: not measured)
        # member -> {"oof": {view: (N, K)}, "test": {view: [(N_test, K) of each checkpoint group]}}:
        # the pieces an inference budget chooses among (skp.ensemble.budget)
        self.pieces: dict[str, dict] = {}

    def checkpoints(self, member: Member) -> list[Path]:
        return [member.fold_dirs[f] / "best.pt" for f in self.reference.folds]

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

    def _prepare(self, member: Member, groups: list[list[Path]], mode: str, fold, view_name, rows_file=None):
        """(cache keys of the groups, config, dataset) of one view of one data set: `mode`'s
        rows, or in inference mode those of `rows_file` (default: the test file)."""
        index = (member.name, mode, fold, view_name, rows_file)
        if index not in self.prepared:
            view = self.views[view_name]
            cfg = inference_config(member.cfg, mode, fold, view, rows_file or self.recipe.test_file)
            dataset = build_dataset(cfg, mode)
            signature = data_signature(dataset)
            keys = [
                self.cache.key([self.cache.digest(p) for p in paths], self.recipe.weights, mode, fold, signature, view_name, repr(view), cfg.to_json())
                for paths in groups
            ]
            self.prepared[index] = keys, cfg, dataset
        return self.prepared[index]

    def _test_groups(self, member: Member) -> list[list[Path]]:
        paths = self.checkpoints(member)
        if self.recipe.soup:
            return [paths]
        wanted = self.recipe.checkpoints or len(paths)
        if wanted > len(paths):
            raise SkpError(f"The recipe asks for {wanted} fold checkpoints per member, and {member.name} has {len(paths)} "
                           f"(folds {', '.join(map(str, self.reference.folds))}). Lower checkpoints, or train the missing folds.")
        return [[p] for p in paths[:wanted]]

    def _passes(self, member: Member):
        """(groups, mode, fold, view) of every prediction the member needs."""
        for view_name in list(self.views)[1:]:  # the plain OOF view comes from oof.csv
            for fold in self.reference.folds:
                yield [[member.fold_dirs[fold] / "best.pt"]], "val", fold, view_name
        for view_name in self.views:
            yield self._test_groups(member), "inference", None, view_name

    def all_cached(self, member: Member) -> bool:
        if member.cfg is None:
            return True
        return all(self.cache.has(key) for groups, *where in self._passes(member) for key in self._prepare(member, groups, *where)[0])

    def _predict(self, member: Member, groups: list[list[Path]], mode: str, fold, view_name, progress, rows_file=None):
        """Predictions of several models (each one checkpoint, or the soup of several) on
        one view of one data set: cached ones are read, the others share one pass over the
        data, so images are decoded and transformed once per view, not once per fold."""
        keys, cfg, dataset = self._prepare(member, groups, mode, fold, view_name, rows_file)
        preds = [self.cache.get(key) for key in keys]
        todo = [i for i, pred in enumerate(preds) if pred is None]
        test_set = mode == "inference" and rows_file is None
        if todo:
            where = f"fold {fold}" if mode == "val" or rows_file else f"{len(todo)} model(s)"
            computed, timing = self._timed_pass(f"{member.name} {mode} {where} {view_name}", cfg, dataset, groups, todo, progress)
            for i, pred in zip(todo, computed):
                preds[i] = pred
            self._keep(keys, preds, todo, timing)
        cached = [i for i in range(len(keys)) if i not in todo]
        if test_set and self.remeasure_costs and cached:
            self._remeasure(member, cfg, dataset, groups, keys, preds, cached, view_name, progress)
        if test_set:
            self.costs.setdefault(member.name, {})[view_name] = [self.cache.costs.get(key) for key in keys]
        return preds, np.asarray(dataset.ids)

    def _models(self, task, groups: list[list[Path]], indices: list[int]) -> list:
        """The task's model with each chosen group's weights (one checkpoint, or their soup)."""
        models = []
        for i in indices:
            model = copy.deepcopy(task.model) if models else task.model
            paths = groups[i]
            model.load_state_dict(soup([self.state(p) for p in paths]) if len(paths) > 1 else self.state(paths[0]))
            models.append(model)
        return models

    def _timed_pass(self, label: str, cfg, dataset, groups: list[list[Path]], indices: list[int], progress):
        """One pass of the chosen groups' models over the data set, shown as a progress task:
        their predictions, and the seconds per image of run_inference's `timing`."""
        task = build_task(cfg)
        loader = inference_loader(dataset, cfg, self.recipe.batch_size)
        job = progress.add_task(label, total=len(loader))
        timing = {}
        preds = run_inference(task, self._models(task, groups, indices), loader, lambda: progress.advance(job), timing)
        progress.remove_task(job)
        return preds, timing

    def _keep(self, keys: list, preds: list, indices: list[int], timing: dict) -> None:
        """Cache the chosen predictions with the cost of the pass that timed them."""
        for j, i in enumerate(indices):
            self.cache.put(keys[i], preds[i], {"load": timing["load"], "model": timing["models"][j], "device": device_name()})

    def _remeasure(self, member: Member, cfg, dataset, groups, keys, preds, indices, view_name, progress) -> None:
        """Time the chosen cached test predictions again on the first REMEASURE_BATCHES + 1
        batches and keep the new costs with them (the predictions are not recomputed)."""
        images = (REMEASURE_BATCHES + 1) * inference_batch_size(cfg, self.recipe.batch_size)
        sample = torch.utils.data.Subset(dataset, range(min(len(dataset), images)))
        label = f"{member.name} timing {len(indices)} model(s) {view_name}"
        _, timing = self._timed_pass(label, cfg, sample, groups, indices, progress)
        self._keep(keys, preds, indices, timing)

    def _test_pred(self, member: Member, progress) -> np.ndarray:
        groups = self._test_groups(member)
        views = self.pieces.setdefault(member.name, {}).setdefault("test", {})
        for view_name in self.views:
            preds, ids = self._predict(member, groups, "inference", None, view_name, progress)
            views[view_name] = [self._in_order(pred, ids, self.test_ids, f"test predictions of {member.name}") for pred in preds]
        return np.mean([np.mean(groups, axis=0) for groups in views.values()], axis=0)

    def _oof_with_tta(self, member: Member, progress) -> np.ndarray:
        """The plain view comes from oof.csv; the other views are predicted fold by fold."""
        id_column = self.reference.cfg.id_column
        views = self.pieces.setdefault(member.name, {}).setdefault("oof", {})
        for view_name in list(self.views)[1:]:
            frames = []
            for fold in self.reference.folds:
                (pred,), ids = self._predict(member, [[member.fold_dirs[fold] / "best.pt"]], "val", fold, view_name, progress)
                frames.append(pd.DataFrame(pred, columns=[f"p{j}" for j in range(pred.shape[1])]).assign(**{id_column: ids}))
            frame = pd.concat(frames, ignore_index=True)
            views[view_name] = align(frame, id_column, self.reference.ids, [c for c in frame.columns if c != id_column], f"TTA OOF of {member.name}")
        return np.mean(list(views.values()), axis=0)

    def training_rows(self, member: Member, fold: int, ids, progress) -> np.ndarray:
        """The fold's checkpoint on every row of the training annotations (the rows it trained
        on and its own fold), averaged over the views, in the order of `ids` (all of the
        annotations' ids): a student's teacher for that fold (skp.ensemble.distil)."""
        rows_file = str(data_file(member.cfg, member.cfg.annotations_file).resolve())
        views = []
        for view_name in self.views:
            (pred,), row_ids = self._predict(member, [[member.fold_dirs[fold] / "best.pt"]], "inference", fold, view_name, progress, rows_file)
            views.append(self._in_order(pred, row_ids, ids, f"training-row predictions of {member.name}"))
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
        self.pieces[member.name] = {"oof": {"none": member.oof}}  # the plain view: oof.csv
        if len(self.views) > 1:
            member.oof = self._oof_with_tta(member, progress)
        member.test = self._test_pred(member, progress)


# the fold models' test predictions also go into the blend-input snapshot; beyond this
# (many members, classes and test rows) the expected test gain is not estimated
FOLD_TESTS_LIMIT_BYTES = 1 << 30


def fold_tests(members: list[Member], pieces: dict, views: list[str] | None = None, checkpoints: int | None = None) -> list[np.ndarray] | None:
    """Each member's fold models' test predictions, averaged over `views` (default: all),
    its first `checkpoints` (default: all), as (checkpoints, N, K); None when a member has
    none (predictions from files) or they are too large to keep."""
    views_of = [pieces.get(member.name, {}).get("test") for member in members]
    if not all(views_of):
        return None
    size = sum(4 * sum(p.size for p in next(iter(member.values()))) for member in views_of)
    if size > FOLD_TESTS_LIMIT_BYTES:
        print(f"skp-ensemble: the fold models' test predictions take {size / 2**30:.1f} GiB, more than "
              f"{FOLD_TESTS_LIMIT_BYTES / 2**30:.0f} GiB: the blend's expected test gain is not estimated.")
        return None
    return [views_averaged(member, views)[:checkpoints].astype(np.float32) for member in views_of]


def input_files(recipe: Recipe, members: list[Member], reference: Reference, test: TestSet) -> list[str] | None:
    """Every file the blend inputs came from, for the snapshot's freshness check; None
    when one of them cannot be checked that way (a study in a database)."""
    from skp.training.runs import RUN_FILE, config_sources
    from skp.tune.study import default_storage_path

    files = []
    for spec in recipe.members:
        if isinstance(spec, Study):
            if spec.storage is not None and not spec.storage.endswith(".log"):
                return None
            files.append(spec.storage or default_storage_path(spec.study))
    for member in members:
        if member.files is not None:
            files += [member.files.oof, member.files.test]
            continue
        files += config_sources(member.cfg)
        fold_dirs = [member.fold_dirs[fold] for fold in reference.folds]
        files.append(fold_dirs[0].parent / RUN_FILE)
        for fold_dir in fold_dirs:
            files += [fold_dir / "oof.csv", fold_dir / "best.pt"]
    cfg = reference.cfg
    files += [data_file(cfg, cfg.annotations_file), test.annotations, test.sample_file, *test.paths]
    if test.solution_file is not None:
        files.append(test.solution_file)
    return [str(f) for f in files]


def run_ensemble(recipe: Recipe, use_cache: bool = True, remeasure_costs: bool = False) -> dict:
    """Everything skp-ensemble does for a recipe; returns the summary written to weights.json.
    `remeasure_costs`: time cached test predictions again (costs first measured on a busy
    machine or another device)."""
    started = time.time()
    check_recipe(recipe)
    members = resolve_members(recipe)
    if is_segmentation(members):
        if recipe.budget is not None:
            raise SkpError("An inference budget chooses among classification and regression members; segmentation ensembles do not take one yet. Drop --budget.")
        if recipe.distil is not None:
            raise SkpError("Distillation trains classification and regression students; segmentation ensembles cannot teach one yet. Drop --distil.")
        if remeasure_costs:
            raise SkpError("Segmentation ensembles record no inference costs to measure again. Drop --remeasure-costs.")
        return run_segmentation_ensemble(recipe, members, use_cache)
    reference = build_reference(members, recipe.folds)
    check_folds(members, reference)
    load_all_oof(members, reference)
    cfg = reference.cfg
    problem = problem_of(cfg, members[0].oof.shape[1])
    scorer = make_scorer(cfg, problem, recipe.metric, recipe.direction, members[0].oof, reference.targets)
    test = load_test_set(recipe, cfg)
    cache = PredictionCache(ensembles_root() / ".cache" if use_cache else None)
    predictor = Predictor(recipe, reference, test.ids, cache, remeasure_costs)
    predictor.preflight([m for m in members if not predictor.all_cached(m)])

    with progress_bar() as progress:
        overall = progress.add_task("members", total=len(members))
        for done, member in enumerate(members, 1):
            predictor.predict(member, progress)
            reach("predicted")
            progress.advance(overall)
            if not is_terminal():  # a file or pipe gets no live bar: a line as each member is done
                print(f"skp-ensemble: predicted {member.name} ({done}/{len(members)} members)", flush=True)
    predicted = time.time()
    costs = [member_cost(predictor.costs.get(m.name)) for m in members]
    predicted_members, budget = members, None
    if recipe.budget is not None:
        from skp.ensemble.budget import apply_budget, write_within_budget

        chosen, budget = apply_budget(members, predictor.pieces, costs, list(predictor.views), scorer, recipe.budget, len(test.ids))
        budget["recipe"] = str(write_within_budget(recipe, chosen, budget["chosen"], Path(recipe.output)))
        kept = {member.name for member in chosen}
        costs = [cost for member, cost in zip(members, costs) if member.name in kept]
        members = chosen

    chosen = (budget or {}).get("chosen", {})
    inputs = BlendInputs(
        names=[m.name for m in members],
        sources=[m.source for m in members],
        provenance=[m.provenance for m in members],
        oofs=[m.oof for m in members],
        tests=[m.test for m in members],
        ids=reference.ids,
        targets=reference.targets,
        row_folds=reference.row_folds,
        folds=[int(f) for f in reference.folds],
        test_ids=test.ids,
        test_targets=test_targets(cfg, test),
        sample_file=str(test.sample_file),
        problem=problem,
        id_column=cfg.id_column,
        tta=list(tta_views(recipe.tta)),
        metric={"name": scorer.name, "direction": scorer.direction, "class": scorer.metric},
        device=device_name(),
        costs=costs,
        budget=budget,
        # under a budget, the chosen pieces only: as the within-budget recipe will predict them
        fold_tests=fold_tests(members, predictor.pieces, chosen.get("views"), chosen.get("checkpoints")),
    )
    folder = Path(recipe.output)
    depends = input_files(recipe, predicted_members, reference, test)  # an unchosen member may change the choice
    if use_cache and depends is not None:
        save_snapshot(folder, recipe, inputs, depends)
    extra = {"cache": {"hits": cache.hits, "misses": cache.misses}, "seconds": {"predict": round(predicted - started, 2)}}
    after = None
    if recipe.distil is not None:
        from skp.ensemble.distil import distil

        def after(summary):
            return {"distil": distil(recipe, members, predictor, inputs, summary)}
    summary = blend_and_write(recipe, inputs, folder, cfg, extra, after)
    summary["seconds"]["blend_and_write"] = round(time.time() - predicted, 2)
    return summary
