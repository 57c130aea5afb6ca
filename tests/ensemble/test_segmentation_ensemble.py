"""skp-ensemble on segmentation members: shapes end to end on a tiny budget (marked slow)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from skp.configs import load_config
from skp.ensemble import Recipe, Run
from skp.ensemble.pipeline import run_ensemble
from skp.toolbox.masks import rle_decode
from skp.errors import SkpError
from skp.training.folds import train_folds

pytestmark = pytest.mark.slow
TINY = [("num_epochs", "1"), ("image_height", "32"), ("image_width", "32")]
TRAINER = {"limit_train_batches": 2, "enable_progress_bar": False}


@pytest.fixture(scope="module")
def members():
    for config in ("shapes.cfg_unet", "shapes.cfg_unet_regnet"):
        train_folds(config, TINY, kfold="0,1", run_id="pytest-seg", trainer_kwargs=TRAINER)
    return [Run("shapes.cfg_unet", run_id="pytest-seg"), Run("shapes.cfg_unet_regnet", run_id="pytest-seg")]


def test_two_members_with_tta_give_a_submission_that_matches_the_sample(members, tmp_path):
    recipe = Recipe(members=members, folds=[0, 1], blend="greedy", tta=["hflip", "rot90"], output=str(tmp_path / "out"), name="seg")
    summary = run_ensemble(recipe)
    cfg = load_config("shapes.cfg_unet")
    sample = pd.read_csv(Path(cfg.data_dir) / "sample_submission.csv", keep_default_na=False)
    submission = pd.read_csv(tmp_path / "out" / "submission.csv", keep_default_na=False)
    assert list(submission.columns) == list(sample.columns) and list(submission.id) == list(sample.id)
    for text in submission.EncodedPixels:
        assert rle_decode(text, (64, 64)).shape == (64, 64)  # the images' own size, not the models' 32
    assert 0 <= summary["test_dice"] <= 1 and len(summary["thresholds"]) == 1
    assert [m["member"] for m in summary["members"]] == ["shapes.cfg_unet/pytest-seg", "shapes.cfg_unet_regnet/pytest-seg"]
    assert json.loads((tmp_path / "out" / "weights.json").read_text())["tta"] == ["none", "hflip", "rot90"]
    assert summary["cache"] == {"hits": 0, "misses": 2}

    again = run_ensemble(recipe)  # a re-blend predicts nothing
    assert again["cache"] == {"hits": 2, "misses": 0} and again["test_dice"] == summary["test_dice"]


def test_without_tta_the_stored_oof_maps_are_blended(members, tmp_path):
    summary = run_ensemble(Recipe(members=members[:1], folds=[0, 1], blend="mean", output=str(tmp_path / "plain"), name="plain"))
    assert summary["tta"] == ["none"] and 0 <= summary["oof_dice"] <= 1
    assert summary["oof_dice"] >= summary["oof_dice_at_0.5"]  # fitted on these rows: never worse than 0.5


def test_members_of_another_size_or_a_table_blend_are_refused_before_any_inference(members, tmp_path):
    train_folds("shapes.cfg_unet", [("num_epochs", "1"), ("image_height", "48"), ("image_width", "48")], kfold="0,1",
                run_id="pytest-seg48", trainer_kwargs=TRAINER)
    recipe = Recipe(members=[members[0], Run("shapes.cfg_unet", run_id="pytest-seg48")], folds=[0, 1], output=str(tmp_path / "x"), name="x")
    with pytest.raises(SkpError, match="different"):
        run_ensemble(recipe)
    with pytest.raises(SkpError, match="blend .stacker. is not one of auto, mean, greedy"):
        run_ensemble(Recipe(members=members[:1], folds=[0, 1], output=str(tmp_path / "y"), name="y", blend="stacker"))
