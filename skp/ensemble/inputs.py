"""What a blend starts from once every member is predicted, and its snapshot on disk.

skp-ensemble writes the snapshot (blend_inputs.npz and blend_inputs.json in the output
folder) after predicting. The next command with the same members and prediction
settings, whose input files (run directories' oof.csv and best.pt, configs, study
journals, annotations, test images, sample submission, solution) are unchanged by size
and modification time, blends from the snapshot: it imports no torch, Lightning, timm or
albumentations, builds no model and hashes no checkpoint, so trying another blend method
or more greedy rounds takes about a second. Anything else takes the full path, whose
prediction cache still spares the inference.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from skp.files import atomic_write, write_text

ARRAYS = "blend_inputs.npz"
MANIFEST = "blend_inputs.json"
VERSION = 2  # 2: fold_tests


@dataclass
class BlendInputs:
    names: list[str]
    sources: list[str]
    provenance: list  # per member: its run's record, or None
    oofs: list[np.ndarray]  # (N, K) each, rows in the order of ids
    tests: list[np.ndarray]  # (N_test, K) each, rows in the order of test_ids
    ids: np.ndarray
    targets: np.ndarray
    row_folds: np.ndarray
    folds: list[int]
    test_ids: np.ndarray
    test_targets: np.ndarray | None  # from the solution file, when there is one
    sample_file: str
    problem: str
    id_column: str
    tta: list[str]
    metric: dict  # {"name", "direction", "class"}: the value blended on and the class reporting it
    device: str  # where the members' test predictions were computed
    costs: list | None = None  # per member: skp.ensemble.costs.member_cost, or None
    budget: dict | None = None  # the inference budget's choice (skp.ensemble.budget), when the recipe set one
    # per member, (checkpoints, N_test, K): each fold model's test predictions, TTA views
    # averaged (skp.ensemble.fold_pooling); None when a member has none (files, a soup)
    fold_tests: list[np.ndarray] | None = None

    def scorer(self, cfg=None, test: bool = False):
        """The Scorer of the recipe's metric on the OOF rows (or the test rows); without
        `cfg`, only a metric with a NumPy twin can be scored (else LookupError)."""
        from skp.oof.scoring import Scorer

        targets = self.test_targets if test else self.targets
        return Scorer(self.metric["name"], self.metric["direction"], self.problem, targets, self.metric["class"], cfg)


_ARRAY_FIELDS = ("ids", "targets", "row_folds", "test_ids", "test_targets")


def recipe_key(recipe) -> str:
    """What decides the inputs, besides files: members, prediction settings, the metric,
    and the directories names are resolved in."""
    tta = {name: repr(view) for name, view in recipe.tta.items()} if isinstance(recipe.tta, dict) else list(recipe.tta or [])
    settings = {
        "version": VERSION,
        "members": [repr(m) for m in recipe.members],
        "folds": recipe.folds,
        "tta": tta,
        **{k: getattr(recipe, k) for k in ("weights", "soup", "test_file", "sample_submission", "solution", "metric", "direction", "budget", "checkpoints")},
        "env": {k: v for k, v in sorted(os.environ.items()) if k.startswith("SKP_")},
        "cwd": os.getcwd(),
    }
    return hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def file_stats(paths) -> dict[str, list[int]]:
    stats = {}
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            stats[str(path)] = None
            continue
        stats[str(path)] = [stat.st_size, stat.st_mtime_ns]
    return stats


def save_snapshot(folder: Path, recipe, inputs: BlendInputs, depends: list) -> None:
    arrays = {f"oof_{i}": a for i, a in enumerate(inputs.oofs)}
    arrays.update({f"test_{i}": a for i, a in enumerate(inputs.tests)})
    arrays.update({f"fold_test_{i}": a for i, a in enumerate(inputs.fold_tests or [])})
    arrays.update({k: getattr(inputs, k) for k in _ARRAY_FIELDS if getattr(inputs, k) is not None})
    scalars = {f.name: getattr(inputs, f.name) for f in fields(inputs) if f.name not in (*_ARRAY_FIELDS, "oofs", "tests", "fold_tests")}
    manifest = {"key": recipe_key(recipe), "files": file_stats(depends), "inputs": scalars}
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / ARRAYS, lambda tmp: np.savez(tmp, **arrays))
    write_text(folder / MANIFEST, json.dumps(manifest, default=str))  # last: marks the snapshot complete


def load_snapshot(folder: Path, recipe) -> BlendInputs | None:
    """The snapshot's inputs when nothing they came from changed, else None."""
    manifest_file, arrays_file = folder / MANIFEST, folder / ARRAYS
    if not (manifest_file.is_file() and arrays_file.is_file()):
        return None
    try:
        manifest = json.loads(manifest_file.read_text())
    except ValueError:
        return None
    if manifest.get("key") != recipe_key(recipe) or file_stats(manifest["files"]) != manifest["files"]:
        return None
    return read_snapshot(folder, manifest)


def read_snapshot(folder: Path, manifest: dict | None = None) -> BlendInputs | None:
    """The snapshot's inputs as written, whatever changed since (benchmarks re-blend them);
    None when it is missing or damaged."""
    try:
        manifest = manifest or json.loads((folder / MANIFEST).read_text())
        scalars = manifest["inputs"]
        with np.load(folder / ARRAYS, allow_pickle=True) as arrays:
            count = len(scalars["names"])
            loaded = {k: arrays[k] if k in arrays else None for k in _ARRAY_FIELDS}
            return BlendInputs(
                oofs=[arrays[f"oof_{i}"] for i in range(count)],
                tests=[arrays[f"test_{i}"] for i in range(count)],
                fold_tests=[arrays[f"fold_test_{i}"] for i in range(count)] if "fold_test_0" in arrays else None,
                **loaded,
                **scalars,
            )
    except (KeyError, TypeError, ValueError, OSError):
        return None  # written by another skp version, or damaged: predict again
