"""The test set a recipe predicts: its ids and images, the sample submission, and the
solution file's labels when there is one (for scores the blend was not fitted on)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from skp.datasets.annotations import data_file
from skp.ensemble.predict import build_dataset, inference_config
from skp.ensemble.recipe import Recipe
from skp.errors import SkpError
from skp.oof.members import align


@dataclass
class TestSet:
    ids: np.ndarray
    paths: list  # the test images
    annotations: Path
    sample_file: Path
    solution: pd.DataFrame | None
    solution_file: Path | None


def _optional_file(cfg, explicit: str | None, attribute: str) -> Path | None:
    name = explicit or getattr(cfg, attribute)
    return data_file(cfg, name) if name else None


def load_test_set(recipe: Recipe, cfg) -> TestSet:
    inference_cfg = inference_config(cfg, "inference", None, None, recipe.test_file)
    dataset = build_dataset(inference_cfg, "inference")
    sample_path = _optional_file(cfg, recipe.sample_submission, "sample_submission_file")
    if sample_path is None or not sample_path.is_file():
        raise SkpError(
            f"No sample submission at {sample_path} (cfg.sample_submission_file of {cfg.config_name}). "
            f"Set sample_submission='path.csv' in the recipe (--sample-submission)."
        )
    columns = list(pd.read_csv(sample_path, nrows=0).columns)
    if cfg.id_column not in columns:
        raise SkpError(f"{sample_path} has no id column {cfg.id_column!r}; its columns are {columns}.")
    solution_path = _optional_file(cfg, recipe.solution, "solution_file")
    if solution_path is not None and not solution_path.is_file():
        solution_path = None
    solution = pd.read_csv(solution_path) if solution_path is not None else None
    annotations = data_file(inference_cfg, inference_cfg.inference_annotations_file)
    return TestSet(np.asarray(dataset.ids), list(getattr(dataset, "paths", [])), annotations, sample_path, solution, solution_path)


def test_targets(cfg, test: TestSet) -> np.ndarray | None:
    """The test labels from the solution file, in the order of the test ids."""
    if test.solution is None:
        return None
    missing = [c for c in [cfg.id_column, *cfg.targets] if c not in test.solution.columns]
    if missing:
        raise SkpError(f"The solution file lacks columns {missing}; it needs the id and cfg.targets columns.")
    return align(test.solution, cfg.id_column, test.ids, list(cfg.targets), "The solution file")
