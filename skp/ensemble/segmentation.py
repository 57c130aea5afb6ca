"""skp-ensemble for segmentation members: fold and member probability maps averaged per
pixel (geometric TTA undone first), the threshold and minimum component size fitted on
OOF Dice, and a run-length-encoded submission.

Every map is uint8 (probability x 255) at the models' output resolution, in a .npy file
under the output's `work/` folder (test maps of each member in the prediction cache),
read and written a batch or a chunk of images at a time (`MapFile`): memory holds one
batch and one chunk, not the data set.
Masks go back to each test image's own size only when the submission is written.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from skp.console import progress_bar
from skp.ensemble.blend import BLENDS, mask_blends
from skp.ensemble.mask_blend import CHUNK, MapFile, binarize, blend_maps, fit_thresholds, image_dice
from skp.ensemble.mask_tta import apply_view, check_views, undo_view
from skp.ensemble.submission import write_csv_atomically
from skp.ensemble.testset import load_test_set
from skp.errors import SkpError
from skp.files import write_text
from skp.oof.members import Member, Reference, build_reference, check_folds
from skp.toolbox.masks import QUANTUM, rle_decode, rle_encode

def is_segmentation(members: list[Member]) -> bool:
    return any(m.cfg is not None and m.cfg.task == "segmentation" for m in members)


def _shape(cfg) -> tuple[int, int, int]:
    return (cfg.num_classes or 1, cfg.image_height, cfg.image_width)


def check_members(recipe, members: list[Member]) -> tuple[int, int, int]:
    """Every member an skp segmentation run with the same classes and output size, and a
    blend and TTA views that apply: refused here, before any inference."""
    problems = []
    files = [m.name for m in members if m.cfg is None]
    if files:
        problems.append(f"members {files} are prediction files; segmentation members must be skp runs or studies")
    runs = [m for m in members if m.cfg is not None]
    others = [m.name for m in runs if m.cfg.task != "segmentation"]
    if others:
        problems.append(f"members {others} are not segmentation runs")
    shapes = {m.name: _shape(m.cfg) for m in runs}
    if len(set(shapes.values())) > 1:
        problems.append("members predict maps of different (classes, height, width): " + ", ".join(f"{n} {s}" for n, s in shapes.items()))
    if recipe.blend not in mask_blends():
        problems.append(f"blend {recipe.blend!r} is not one of {', '.join(mask_blends())} for segmentation")
    if isinstance(recipe.tta, dict):
        problems.append("tta must be a list of view names for segmentation (each view needs its inverse)")
    if problems:
        raise SkpError("This recipe cannot blend segmentation members: " + "; ".join(problems) + ".")
    shape = next(iter(shapes.values()))
    check_views(list(recipe.tta or []), shape[1], shape[2])
    return shape


def preflight(members: list[Member], reference: Reference, weights: str) -> None:
    """Every fold checkpoint must fit its member's model: checked before any inference."""
    from skp.ensemble.predict import build_model, check_weights, inference_config, load_weights

    for member in members:
        model = build_model(inference_config(member.cfg, "inference", None, None, None))
        for fold in reference.folds:
            path = member.fold_dirs[fold] / "best.pt"
            check_weights(model, load_weights(path, weights, mmap=True), path, member.cfg.config_name)


def _rows(ids, wanted: pd.Index, what: str) -> np.ndarray:
    rows = wanted.get_indexer(pd.Index(ids))
    if (rows < 0).any():
        raise SkpError(f"{what} holds ids outside the training annotations (e.g. {list(np.asarray(ids)[rows < 0][:3])}).")
    return rows


def _new_map(path: Path, shape, dtype=np.uint8) -> MapFile:
    path.parent.mkdir(parents=True, exist_ok=True)
    return MapFile(path, shape=shape, dtype=dtype)


def true_masks(reference: Reference, shape, path: Path) -> MapFile:
    """(N, K, H, W) bool truth of the reference rows, as the val datasets give it."""
    from skp.ensemble.predict import build_dataset, inference_config

    wanted, (k, h, w) = pd.Index(reference.ids), shape
    true = _new_map(path, (len(wanted), k, h, w), dtype=bool)
    for fold in reference.folds:
        dataset = build_dataset(inference_config(reference.cfg, "val", fold, None, None), "val")
        rows = _rows(dataset.ids, wanted, f"The validation set of fold {fold}")
        for i, row in enumerate(rows):
            y = np.asarray(dataset[i]["y"])
            true[[row]] = (y > 0.5 if k == 1 else np.eye(k, dtype=bool)[y.astype(int)].transpose(2, 0, 1))[None]
    return true


def stored_oof(member: Member, reference: Reference, shape, path: Path) -> MapFile:
    """The member's oof_masks.npy of every fold, in the reference's row order."""
    wanted = pd.Index(reference.ids)
    out = _new_map(path, (len(wanted), *shape))
    for fold in reference.folds:
        fold_dir = member.fold_dirs[fold]
        if not (fold_dir / "oof_masks.npy").is_file():
            raise SkpError(
                f"{fold_dir} has no oof_masks.npy: the fold was trained before skp kept segmentation "
                f"OOF maps, or with save_oof_masks False. Train it again to blend it."
            )
        masks = MapFile(fold_dir / "oof_masks.npy")
        ids = pd.read_csv(fold_dir / "oof.csv")[member.cfg.id_column].to_numpy()
        rows = _rows(ids, wanted, f"{fold_dir / 'oof.csv'}")
        for start in range(0, len(rows), CHUNK):
            out[rows[start:start + CHUNK]] = masks[start:start + CHUNK]
    return out


def predict_maps(checkpoints: list[Path], cfg, dataset, views: list[str], out: MapFile, rows, weights: str, progress=None) -> None:
    """Mean over checkpoints and views of the probability maps, each view undone, into
    out[rows] batch by batch."""
    import torch

    from skp.ensemble.predict import _autocast, build_task, device, inference_loader, load_weights
    from skp.tasks.segmentation import probabilities

    dev = device()
    task = build_task(cfg)
    models = []
    for path in checkpoints:
        model = task.model if not models else copy.deepcopy(task.model)
        model.load_state_dict(load_weights(path, weights))
        models.append(model.to(dev).eval())
    start = 0
    with torch.inference_mode(), _autocast(dev):
        for batch in inference_loader(dataset, cfg, None):
            batch = {k: v.to(dev) if torch.is_tensor(v) else v for k, v in batch.items()}
            x = batch["x"]
            total = torch.zeros((len(x), *out.shape[1:]), device=dev)
            for view in views:
                seen = {**batch, "x": apply_view(x, view)}  # other inputs (metadata) as they are
                for model in models:
                    total += undo_view(probabilities(model(seen)["logits"].float()), view)
            maps = (total / (len(views) * len(models)) * QUANTUM).round().to(torch.uint8).cpu().numpy()
            out[rows[start:start + len(x)]] = maps
            start += len(x)
            if progress is not None:
                progress()


class MapCache:
    """Test maps of a member in <cache>/<key>.npy."""

    def __init__(self, cache):
        self.cache = cache

    def key(self, checkpoints, views, weights: str, dataset, cfg) -> str:
        from skp.ensemble.predict import data_signature

        digests = [self.cache.digest(p) for p in checkpoints]
        return self.cache.key("segmentation", digests, weights, views, data_signature(dataset), cfg.to_json())

    def get(self, key: str):
        path = None if self.cache.folder is None else self.cache.folder / f"{key}.npy"
        if path is not None and path.is_file():
            self.cache.hits += 1
            return MapFile(path)
        self.cache.misses += 1
        return None

    def path(self, key: str, fallback: Path) -> Path:
        return fallback if self.cache.folder is None else self.cache.folder / f"{key}.npy"


def test_maps(member: Member, reference: Reference, test_cfg, dataset, views, weights: str, cache: MapCache, fallback: Path, progress):
    """The member's test maps, every fold and view averaged: from the cache, or predicted
    into it (into `fallback` without a cache)."""
    checkpoints = [member.fold_dirs[f] / "best.pt" for f in reference.folds]
    key = cache.key(checkpoints, views, weights, dataset, test_cfg)
    cached = cache.get(key)
    if cached is not None:
        return cached
    final = cache.path(key, fallback)
    partial = final.with_name(final.stem + ".partial.npy")
    out = _new_map(partial, (len(dataset), *_shape(test_cfg)))
    job = progress.add_task(f"{member.name} test, {len(checkpoints)} folds x {len(views)} views", total=None)
    predict_maps(checkpoints, test_cfg, dataset, views, out, np.arange(len(dataset)), weights, lambda: progress.advance(job))
    progress.remove_task(job)
    out.close()
    partial.replace(final)  # whole, or not there: an interrupted run predicts it again
    return MapFile(final)


def tta_oof(member: Member, reference: Reference, shape, views, weights: str, path: Path, progress) -> MapFile:
    """OOF maps under the same views as the test maps, fold by fold."""
    from skp.ensemble.predict import build_dataset, inference_config

    wanted = pd.Index(reference.ids)
    out = _new_map(path, (len(wanted), *shape))
    for fold in reference.folds:
        cfg = inference_config(member.cfg, "val", fold, None, None)
        dataset = build_dataset(cfg, "val")
        job = progress.add_task(f"{member.name} OOF fold {fold}, {len(views)} views", total=None)
        predict_maps([member.fold_dirs[fold] / "best.pt"], cfg, dataset, views, out, _rows(dataset.ids, wanted, f"fold {fold}"), weights, lambda: progress.advance(job))
        progress.remove_task(job)
    return out


def image_sizes(paths) -> list[tuple[int, int]]:
    """(height, width) of every test image: masks go back to them."""
    import cv2

    return [cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape[:2] for path in paths]


def final_masks(maps, n: int, fitted: dict, size: tuple[int, int]) -> np.ndarray:
    """Image n's (K, height, width) boolean masks at its own size."""
    import cv2

    masks = binarize(np.asarray(maps[n:n + 1]), fitted["thresholds"], fitted["min_sizes"])[0]
    height, width = size
    return np.stack([cv2.resize(m.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) for m in masks]).astype(bool)


def write_submission(recipe, cfg, test_ids, sizes, maps, fitted, sample_file: Path, folder: Path) -> pd.DataFrame:
    """submission.csv in the sample's row order and columns: id, then one RLE column per class."""
    sample = pd.read_csv(sample_file, keep_default_na=False)
    k = maps.shape[1]
    columns = [c for c in sample.columns if c != cfg.id_column]
    if len(columns) != k:
        raise SkpError(f"{sample_file} has {len(columns)} prediction column(s) {columns}; members predict {k} class mask(s): one RLE column per class.")
    missing = set(sample[cfg.id_column]) ^ set(test_ids)
    if missing:
        raise SkpError(f"{sample_file} and the test annotations list different ids (e.g. {sorted(missing, key=str)[:3]}).")
    encoded = {
        image_id: [rle_encode(m, recipe.rle_order) for m in final_masks(maps, n, fitted, sizes[n])]
        for n, image_id in enumerate(test_ids)
    }
    submission = pd.DataFrame([[i, *encoded[i]] for i in sample[cfg.id_column]], columns=[cfg.id_column, *columns])
    write_csv_atomically(submission, folder / "submission.csv")
    return submission


def load_solution(cfg, solution_file: Path | None) -> pd.DataFrame | None:
    """The test masks, run-length encoded, by id; None without a solution file."""
    if solution_file is None or not solution_file.is_file():
        return None
    return pd.read_csv(solution_file, keep_default_na=False).set_index(cfg.id_column)


def test_dice(recipe, solution: pd.DataFrame | None, test_ids, sizes, maps, fitted) -> float | None:
    """Mean per-image Dice of the final masks against the solution's RLE masks, image by image."""
    if solution is None:
        return None
    scores = []
    for n, image_id in enumerate(test_ids):
        predicted = final_masks(maps, n, fitted, sizes[n])
        true = np.stack([rle_decode(text, sizes[n], recipe.rle_order) for text in solution.loc[image_id]]).astype(bool)
        scores.append(image_dice(predicted[None], true[None]).mean())
    return float(np.mean(scores))


def run_segmentation_ensemble(recipe, members: list[Member], use_cache: bool = True) -> dict:
    from skp.ensemble.predict import PredictionCache, build_dataset, inference_config
    from skp.ensemble.recipe import ensembles_root

    started = time.time()
    shape = check_members(recipe, members)
    reference = build_reference(members, recipe.folds)
    check_folds(members, reference)
    preflight(members, reference, recipe.weights)
    cfg, folder = reference.cfg, Path(recipe.output)
    work = folder / "work"
    views = ["none", *(recipe.tta or [])]
    test = load_test_set(recipe, cfg)
    cache = MapCache(PredictionCache(ensembles_root() / ".cache" if use_cache else None))

    true = true_masks(reference, shape, work / "oof_true.npy")
    oofs, tests = [], []
    with progress_bar() as progress:
        for i, member in enumerate(members):
            if len(views) > 1:
                oofs.append(tta_oof(member, reference, shape, views, recipe.weights, work / f"oof_{i}.npy", progress))
            else:
                oofs.append(stored_oof(member, reference, shape, work / f"oof_{i}.npy"))
            member_cfg = inference_config(member.cfg, "inference", None, None, recipe.test_file)
            member_data = build_dataset(member_cfg, "inference")
            if list(member_data.ids) != list(test.ids):
                raise SkpError(f"{member.name}'s test set lists other ids than {cfg.config_name}'s; members must predict the same test images.")
            tests.append(test_maps(member, reference, member_cfg, member_data, views, recipe.weights, cache, work / f"test_{i}.npy", progress))
    predicted = time.time()

    counts = BLENDS[recipe.blend].mask_counts(oofs, true)
    oof_blend = blend_maps(oofs, counts, _new_map(work / "oof_blend.npy", true.shape))
    fitted = fit_thresholds(oof_blend, true)
    test_blend = blend_maps(tests, counts, _new_map(work / "test_blend.npy", tests[0].shape))
    folder.mkdir(parents=True, exist_ok=True)
    test_ids, sizes = list(test.ids), image_sizes(test.paths)
    write_submission(recipe, cfg, test_ids, sizes, test_blend, fitted, test.sample_file, folder)
    solution = load_solution(cfg, test.solution_file)  # read once: the blend and every member are scored on it
    scored = test_dice(recipe, solution, test_ids, sizes, test_blend, fitted)

    rows = []
    for member, weight, oof, maps in zip(members, counts, oofs, tests):
        own = fit_thresholds(oof, true)
        rows.append({"member": member.name, "source": member.source, "weight": weight / sum(counts),
                     "oof_dice_at_0.5": own["dice_at_0.5"], "oof_dice": own["dice"], "thresholds": own["thresholds"],
                     "min_sizes": own["min_sizes"], "test_dice": test_dice(recipe, solution, test_ids, sizes, maps, own)})
    summary = {
        "name": recipe.name, "task": "segmentation", "blend": "auto: greedy" if recipe.blend == "auto" else recipe.blend, "tta": views, "folds": [int(f) for f in reference.folds],
        "members": rows, "thresholds": fitted["thresholds"], "min_sizes": fitted["min_sizes"],
        "oof_dice_at_0.5": fitted["dice_at_0.5"], "oof_dice": fitted["dice"], "test_dice": scored,
        "rle_order": recipe.rle_order, "cache": {"hits": cache.cache.hits, "misses": cache.cache.misses},
        "seconds": {"predict": round(predicted - started, 2), "blend_and_write": round(time.time() - predicted, 2)},
        "provenance": [m.provenance for m in members],
    }
    write_text(folder / "weights.json", json.dumps(summary, indent=2, default=str))
    report = _report(summary)
    write_text(folder / "report.md", report)
    print(report)
    return summary


def _report(summary: dict) -> str:
    def number(value):
        return "" if value is None else f"{value:.4f}"

    lines = [
        f"# {summary['name']}", "",
        f"{summary['blend']} blend of {len(summary['members'])} segmentation member(s) on folds {summary['folds']}; "
        f"TTA views: {', '.join(summary['tta'])}; mean per-image Dice (an empty mask predicted empty scores 1).", "",
        "| member | weight | OOF Dice at 0.5 | OOF Dice, fitted | threshold | min size | test Dice |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in summary["members"]:
        lines.append(f"| {row['member']} | {row['weight']:.2f} | {number(row['oof_dice_at_0.5'])} | {number(row['oof_dice'])} | "
                     f"{row['thresholds']} | {row['min_sizes']} | {number(row['test_dice'])} |")
    lines.append(f"| **blend** | | {number(summary['oof_dice_at_0.5'])} | {number(summary['oof_dice'])} | {summary['thresholds']} | "
                 f"{summary['min_sizes']} | {number(summary['test_dice'])} |")
    return "\n".join(lines) + "\n"
