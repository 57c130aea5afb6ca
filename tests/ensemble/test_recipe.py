"""Recipes and flags: loading, checking and the errors a user sees."""

import os
from pathlib import Path

import pytest

from skp.ensemble.cli import build_parser, main, recipe_from_args
from skp.ensemble.predict import tta_views
from skp.ensemble.recipe import Distil, Files, Recipe, Run, Study, check_recipe, list_recipes, load_recipe
from skp.errors import SkpError

REPO = Path(__file__).resolve().parents[2]


def test_recipe_loads_with_its_name_and_output_beside_it(write_recipe):
    write_recipe("pytest", "ens_one", "from skp.ensemble import Recipe, Run\nrecipe = Recipe(members=[Run('digits.cfg_baseline')], blend='mean')\n")
    recipe = load_recipe("pytest.ens_one")
    assert recipe.name == "pytest.ens_one" and recipe.blend == "mean"
    assert recipe.output == str(Path(os.environ["SKP_ENSEMBLES_DIR"]) / "pytest" / "ens_one")
    assert "pytest.ens_one" in list_recipes()


def test_missing_recipe_lists_what_exists(write_recipe):
    write_recipe("pytest", "ens_one", "from skp.ensemble import Recipe\nrecipe = Recipe()\n")
    with pytest.raises(SkpError, match="Did you mean 'pytest.ens_one'"):
        load_recipe("pytest.ens_onee")
    with pytest.raises(SkpError, match="project.ens_name"):
        load_recipe("ens_one")


def test_recipe_file_must_define_recipe(write_recipe):
    write_recipe("pytest", "ens_bad", "members = []\n")
    with pytest.raises(SkpError, match="must define `recipe = Recipe"):
        load_recipe("pytest.ens_bad")


def test_check_recipe_lists_every_problem():
    recipe = Recipe(members=[Run(), Study("s", top_k=0), "x"], blend="greddy", weights="best", direction="up")
    with pytest.raises(SkpError) as err:
        check_recipe(recipe)
    text = str(err.value)
    for part in ("needs a config name", "top_k >= 1", "'x' is not a Run", "Did you mean 'greedy'", "weights 'best'", "direction 'up'"):
        assert part in text


def test_tta_views_by_name_or_transform():
    import albumentations as A

    assert list(tta_views(["hflip", "vflip"])) == ["none", "hflip", "vflip"]
    custom = A.Affine(scale=1.1, p=1.0)
    assert tta_views({"zoom": custom})["zoom"] is custom
    with pytest.raises(SkpError, match="Unknown TTA view 'hflp'"):
        tta_views(["hflp"])


def test_distil_flags_set_up_the_student():
    args = build_parser().parse_args(
        ["--run", "digits.cfg_baseline", "--distil", "digits.cfg_regnet", "--distil-teacher", "oof", "--distil-temperature", "3",
         "--distil-pseudo-labels", "--output", "o"]
    )
    assert recipe_from_args(args).distil == Distil("digits.cfg_regnet", temperature=3.0, teacher="oof", pseudo_labels=True)
    with pytest.raises(SkpError, match="distil teacher 'nested' is not one of folds, oof"):
        check_recipe(Recipe(members=[Run("digits.cfg_baseline")], distil=Distil("digits.cfg_baseline", teacher="nested")))


def test_flags_build_a_recipe():
    args = build_parser().parse_args(
        ["--run", "digits.cfg_baseline", "--run", "digits.cfg_regnet:run-1", "--study", "s:3", "--study", "t:2+baseline",
         "--study", "u:1+seeds", "--study", "v+seeds+baseline", "--files", "x=a.csv,b.csv", "--folds", "0,1", "--tta", "hflip", "--blend", "stacker", "--output", "out"]
    )
    recipe = recipe_from_args(args)
    assert recipe.members == [Run("digits.cfg_baseline"), Run("digits.cfg_regnet", "run-1"), Study("s", 3), Study("t", 2, baseline=True),
                              Study("u", 1, seeds=True), Study("v", 5, baseline=True, seeds=True), Files("x", "a.csv", "b.csv")]
    assert recipe.folds == [0, 1] and recipe.tta == ["hflip"] and recipe.blend == "stacker" and recipe.output == "out"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--run", "digits.cfg_baseline"], "--output FOLDER"),
        (["--study", "s:best", "--output", "o"], "number of trials"),
        (["--study", "s:3+best", "--output", "o"], "s:5+baseline"),
        (["--study", "s:3+seeds+seeds", "--output", "o"], "s:5+baseline+seeds"),
        (["--files", "x=a.csv", "--output", "o"], "NAME=OOF_FILE,TEST_FILE"),
        (["--run", "digits.cfg_baseline", "--folds", "a", "--output", "o"], "comma-separated integers"),
        (["--run", "digits.cfg_baseline", "--distil-weight", "0.3", "--output", "o"], "name its config with --distil CONFIG"),
        (["--run", "digits.cfg_baseline", "--distil", "digits.cfg_baseline", "--distil-weight", "1.5", "--output", "o"], "distil weight 1.5 is not within [0, 1]"),
        (["--run", "digits.cfg_baseline", "--distil", "digits.cfg_baseline", "--budget", "3", "--output", "o"], "distil first, then give the student"),
        (["--run", "digits.cfg_baseline", "--checkpoints", "0", "--output", "o"], "checkpoints 0 is not a number of fold checkpoints"),
        (["--run", "digits.cfg_baseline", "--checkpoints", "2", "--soup", "--output", "o"], "soup averages all of them"),
        ([], "Name a recipe"),
    ],
)
def test_bad_flags_exit_2_with_a_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_shipped_recipes_load():
    os.environ["SKP_ENSEMBLES_DIR"], previous = str(REPO / "ensembles"), os.environ["SKP_ENSEMBLES_DIR"]
    try:
        names = list_recipes()
        assert "digits.ens_baseline" in names
        for name in names:
            check_recipe(load_recipe(name))
    finally:
        os.environ["SKP_ENSEMBLES_DIR"] = previous


def test_a_study_without_a_baseline_trial_says_so():
    import optuna

    from skp.ensemble.members import study_baseline

    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=1.0))
    with pytest.raises(SkpError, match="no finished baseline trial"):
        study_baseline(study, Study("s", baseline=True))
