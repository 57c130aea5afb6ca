"""Ensemble recipes: `ensembles/<project>/ens_*.py` files that define `recipe = Recipe(...)`.

The recipes' root is ./ensembles, or $SKP_ENSEMBLES_DIR; each recipe's outputs go
to a folder of the same name beside it (ensembles/digits/ens_baseline/).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from skp.configs.lookup import config_label
from skp.ensemble.blend import BLENDS
from skp.errors import SkpError, did_you_mean

# auto (the default) chooses among the others and the number of members by cross-validated score
WEIGHTS = ("validated", "model", "ema")
# where a student's soft targets for fold k come from (skp.ensemble.distil)
TEACHERS = ("folds", "oof")


@dataclass
class Run:
    """A run of skp-train: `config` plus `run_id` (default: the run the plain
    `skp-train <config>` command makes), or its directory as `path`."""

    config: str | None = None
    run_id: str | None = None
    path: str | None = None
    name: str | None = None


@dataclass
class Study:
    """The `top_k` best finished trials of an skp-tune study: its promoted trials when it
    has some (skp-tune --promote: they have every fold), best mean over folds first
    (promoted by ensemble: in the greedy selection's order), else the best values (fold 0
    only, unless the study trained more per trial). `baseline` adds the study's baseline
    trial after them (promotion trains it on every fold as the reference): the most
    different model of the study, which a blend can use where near-copies of the best
    add little on test (docs/benchmarks.md, Fashion-MNIST); `auto` keeps it only when
    cross-validation prefers it. `seeds` adds each promoted trial's seed copies after it
    (skp-tune --promote K --promote-seeds S): on Fashion-MNIST the tuned config at three
    seeds beat a blend of the three best trials on test."""

    study: str
    top_k: int = 5
    storage: str | None = None
    baseline: bool = False
    seeds: bool = False


@dataclass
class Files:
    """Predictions made elsewhere: CSV or parquet files with the id column and one
    column per prediction (`columns`, default: every column but id, fold and target*)."""

    name: str
    oof: str
    test: str
    columns: list[str] | None = None


@dataclass
class Distil:
    """A student: `config` (with `overrides`, skp-train's --attribute VALUE tokens) trained
    on every fold against the blend's predictions, `weight` of the loss on them (softened
    by `temperature`), the rest on the labels. `teacher` "folds" (honest CV) predicts fold
    k's training rows with the fold-k checkpoints, which never saw fold k; "oof" uses the
    blend's OOF predictions, whose models saw fold k, so the student's CV is optimistic.
    `pseudo_labels` adds the test images, labelled by the same teacher."""

    config: str
    overrides: list[str] = field(default_factory=list)
    temperature: float = 2.0
    weight: float = 0.5
    teacher: str = "folds"
    pseudo_labels: bool = False


@dataclass
class Recipe:
    members: list = field(default_factory=list)
    folds: list[int] | None = None  # default: every fold of the training annotations
    # TTA views averaged with the plain view: names from skp.ensemble.predict.TTA_VIEWS,
    # or {name: albumentations transform} for views of your own
    tta: list | dict = field(default_factory=list)
    blend: str = "auto"
    metric: str | None = None  # default: the members' cfg.val_metric
    direction: str | None = None  # "max" or "min"; needed when metric is not val_metric
    weights: str = "validated"  # which weights of best.pt: the validated ones, the raw model or EMA
    soup: bool = False  # average a member's fold weights into one model for test predictions
    power: float = 2.0  # exponent of the "power" blend
    greedy_rounds: int = 25
    test_file: str | None = None  # default: the member config's inference_annotations_file
    sample_submission: str | None = None  # default: cfg.sample_submission_file
    solution: str | None = None  # test labels, when known: default cfg.solution_file
    class_names: list | None = None  # multi-class submissions that want names, not indices
    rle_order: str = "F"  # segmentation: pixels numbered down the columns (Kaggle's usual), "C" by rows
    # (ids, predictions (N, K) array, sample DataFrame) -> submission DataFrame
    to_submission: Callable | None = None
    batch_size: int | None = None
    # inference seconds on this test set: the members, TTA views and fold checkpoints that
    # fit it best (skp.ensemble.budget); None predicts with everything
    budget: float | None = None
    # test predictions from each member's first C fold checkpoints (None: all); what
    # a budget's within_budget.py sets
    checkpoints: int | None = None
    distil: Distil | None = None  # train a student against the blend after blending
    output: str | None = None
    name: str = "ensemble"
    file: str | None = None  # the recipe file, set by load_recipe


def ensembles_root() -> Path:
    return Path(os.environ.get("SKP_ENSEMBLES_DIR", "ensembles"))


def list_recipes() -> list[str]:
    root = ensembles_root()
    return sorted(f"{p.parent.name}.{p.stem}" for p in root.glob("*/ens_*.py")) if root.is_dir() else []


def recipe_path(name: str) -> Path:
    if name.endswith(".py"):
        if not Path(name).is_file():
            raise SkpError(f"No recipe file {name} (from {Path.cwd()}). Name a recipe by its path or as project.ens_name: {', '.join(list_recipes()) or '(none)'}.")
        return Path(name)
    project, _, stem = name.partition(".")
    if not project or not stem:
        raise SkpError(
            f"Recipe name {name!r} must be 'project.ens_name' (e.g. digits.ens_baseline), "
            f"naming {ensembles_root()}/<project>/<ens_name>.py."
        )
    path = ensembles_root() / project / f"{stem}.py"
    if not path.is_file():
        known = list_recipes()
        raise SkpError(
            f"No recipe {path}.{did_you_mean(name, known)} Recipes under {ensembles_root().resolve()}: "
            f"{', '.join(known) or '(none)'}. Set $SKP_ENSEMBLES_DIR to another root, or name "
            f"the members with flags (--run, --study, --files)."
        )
    return path


def load_recipe(name: str) -> Recipe:
    """The `recipe` a recipe file defines, with its name and default output folder set."""
    path = recipe_path(name)
    spec = importlib.util.spec_from_file_location(f"skp_recipe_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    recipe = getattr(module, "recipe", None)
    if not isinstance(recipe, Recipe):
        raise SkpError(f"{path} must define `recipe = Recipe(...)` (from skp.ensemble import Recipe).")
    recipe.name, recipe.file = config_label(name), str(path)  # a file's name: folder.stem, as for configs
    recipe.output = recipe.output or str(path.with_suffix(""))
    return recipe


def check_recipe(recipe: Recipe) -> None:
    problems = []
    if not recipe.members:
        problems.append("it names no members")
    for member in recipe.members:
        if not isinstance(member, (Run, Study, Files)):
            problems.append(f"member {member!r} is not a Run, Study or Files")
        elif isinstance(member, Run) and not (member.config or member.path):
            problems.append(f"{member} needs a config name or a path")
        elif isinstance(member, Study) and member.top_k < 1:
            problems.append(f"{member} needs top_k >= 1")
    if recipe.blend not in BLENDS:
        problems.append(f"blend {recipe.blend!r} is not one of {', '.join(BLENDS)}{did_you_mean(recipe.blend, BLENDS)}")
    if recipe.weights not in WEIGHTS:
        problems.append(f"weights {recipe.weights!r} is not one of {', '.join(WEIGHTS)}")
    if recipe.direction not in (None, "max", "min"):
        problems.append(f"direction {recipe.direction!r} is not 'max' or 'min'")
    if recipe.budget is not None and not (isinstance(recipe.budget, (int, float)) and recipe.budget > 0):
        problems.append(f"budget {recipe.budget!r} is not a number of seconds above 0")
    if recipe.checkpoints is not None:
        if not (isinstance(recipe.checkpoints, int) and recipe.checkpoints >= 1):
            problems.append(f"checkpoints {recipe.checkpoints!r} is not a number of fold checkpoints of at least 1")
        elif recipe.soup:
            problems.append("checkpoints picks fold checkpoints, and soup averages all of them into one model: drop one")
    problems += distil_problems(recipe)
    if problems:
        raise SkpError(f"Recipe {recipe.name!r} cannot run: " + "; ".join(problems) + ".")


def distil_problems(recipe: Recipe) -> list[str]:
    distil = recipe.distil
    if distil is None:
        return []
    if not isinstance(distil, Distil):
        return [f"distil {distil!r} is not a Distil(config, ...)"]
    problems = []
    if distil.teacher not in TEACHERS:
        problems.append(f"distil teacher {distil.teacher!r} is not one of {', '.join(TEACHERS)}")
    if not (isinstance(distil.temperature, (int, float)) and distil.temperature > 0):
        problems.append(f"distil temperature {distil.temperature!r} is not a number above 0")
    if not (isinstance(distil.weight, (int, float)) and 0 <= distil.weight <= 1):
        problems.append(f"distil weight {distil.weight!r} is not within [0, 1]")
    if recipe.budget is not None or recipe.checkpoints is not None:
        problems.append("a student is distilled from the full blend, not from pieces chosen under a budget or a few "
                        "checkpoints: distil first, then give the student to a recipe with a budget")
    return problems
