"""Distillation's teacher: fitted without fold k for fold k, and the leak it guards against."""

import json
import textwrap

import cv2
import numpy as np
import pandas as pd
import pytest

from skp.ensemble.distil import blend_rows, gap_closed, teacher_blend
from skp.errors import SkpError
from skp.oof.scoring import Scorer

PAIRS, CLASSES = 48, 4


def test_the_teacher_is_the_blend_that_makes_the_submission():
    auto = {"method": "auto: greedy of the top 2", "auto": {"method": "greedy", "kept": [2, 0]}}
    assert teacher_blend(auto, 3) == ("greedy", [2, 0])
    assert teacher_blend({"method": "mean", "auto": None}, 3) == ("mean", [0, 1, 2])
    with pytest.raises(SkpError, match="rank blend"):
        teacher_blend({"method": "rank", "auto": None}, 2)


def test_a_fold_teacher_does_not_depend_on_that_folds_oof_rows():
    """Greedy weights for fold k's teacher are fitted on the other folds' OOF rows only."""
    rng = np.random.default_rng(0)
    rows, targets = 200, rng.integers(0, 3, 200)
    row_folds = np.arange(rows) % 2
    scorer = Scorer("logloss", "min", "multiclass", targets[:, None], "classification.LogLoss")
    oofs = [rng.dirichlet(np.ones(3), rows) for _ in range(3)]
    preds = [rng.dirichlet(np.ones(3), 50) for _ in range(3)]
    outside = np.flatnonzero(row_folds != 0)
    options = {"power": 2.0, "rounds": 10}
    before = blend_rows("greedy", oofs, preds, outside, scorer, "multiclass", options)
    changed = [oof.copy() for oof in oofs]
    for oof in changed:
        oof[row_folds == 0] = rng.dirichlet(np.ones(3), (row_folds == 0).sum())
    np.testing.assert_array_equal(blend_rows("greedy", changed, preds, outside, scorer, "multiclass", options), before)


def test_the_gap_closed_is_signed_by_the_metrics_direction():
    assert gap_closed(0.30, 0.25, 0.20, "min") == pytest.approx(0.5)
    assert gap_closed(0.90, 0.93, 0.96, "max") == pytest.approx(0.5)
    assert gap_closed(0.30, 0.35, 0.20, "min") == pytest.approx(-0.5)
    assert gap_closed(0.20, 0.25, 0.30, "min") is None  # the blend is worse: no gap to close
    assert gap_closed(None, 0.25, 0.20, "min") is None


# -- the leak, end to end -------------------------------------------------------------------
MEMORIZER = '''
import torch


class Net(torch.nn.Module):
    """Remembers a label per image (all of an image's pixels hold its pair number)."""

    def __init__(self, cfg):
        super().__init__()
        self.table = torch.nn.Embedding(64, cfg.num_classes)

    def forward(self, batch):
        return {"logits": self.table(batch["x"][:, 0, 0, 0].round().long())}
'''

CONFIG = '''
from skp.configs import Config

cfg = Config()
cfg.task, cfg.model, cfg.dataset = "classification", "memorizer.py", "simple2d"
cfg.num_classes, cfg.num_input_channels, cfg.pretrained = {classes}, 3, False
cfg.data_dir = {data!r}
cfg.annotations_file, cfg.inference_annotations_file = "train.csv", "test.csv"
cfg.sample_submission_file = "sample_submission.csv"
cfg.id_column, cfg.inputs, cfg.targets = "id", "filename", ["label"]
cfg.loss = "classification.CrossEntropyLoss"
cfg.metrics = ["classification.Accuracy"]
cfg.val_metric, cfg.val_track, cfg.select_epoch = "accuracy", "max", "last"
cfg.batch_size, cfg.num_epochs, cfg.num_workers = 16, 30, 0
cfg.optimizer, cfg.optimizer_params = "adamw", {{"lr": 0.3, "weight_decay": 0.0}}
'''


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    """Pairs of identical images, one in fold 0 and one in fold 1, each with its own random
    label: a model that saw one twin predicts the other's label for the first. Near
    duplicates across folds are common in competitions; here they are the whole signal."""
    root = tmp_path_factory.mktemp("twins")
    (root / "images").mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for pair in range(PAIRS):
        cv2.imwrite(str(root / f"images/{pair}.png"), np.full((4, 4, 3), pair, np.uint8))
        for fold in (0, 1):
            rows.append({"id": f"{pair}-{fold}", "filename": f"images/{pair}.png", "label": int(rng.integers(CLASSES)), "fold": fold})
    frame = pd.DataFrame(rows)
    frame.to_csv(root / "train.csv", index=False)
    test = pd.DataFrame({"id": [f"t{p}" for p in range(8)], "filename": [f"images/{p}.png" for p in range(8)]})
    test.to_csv(root / "test.csv", index=False)
    test[["id"]].assign(label=0).to_csv(root / "sample_submission.csv", index=False)
    (root / "memorizer.py").write_text(textwrap.dedent(MEMORIZER))
    config = root / "cfg_twins.py"
    config.write_text(textwrap.dedent(CONFIG.format(classes=CLASSES, data=str(root))))
    agreement = (frame.label[frame.fold == 0].to_numpy() == frame.label[frame.fold == 1].to_numpy()).mean()
    return {"root": root, "config": str(config), "agreement": agreement}


@pytest.mark.slow
def test_a_teacher_that_saw_the_validation_fold_inflates_the_students_cv(twins, write_recipe, monkeypatch):
    """teacher="oof": fold 1's OOF predictions come from a model that learned fold 0's labels,
    so a student validated on fold 0 learns them through its twins: near-perfect CV on
    labels that are pure noise. teacher="folds" (the default): at chance, as it should be."""
    from skp.ensemble.cli import main
    from skp.training.folds import train_folds

    monkeypatch.chdir(twins["root"])
    train_folds(twins["config"], [], kfold="0,1", run_id="teacher", trainer_kwargs={"enable_progress_bar": False})
    cv = {}
    for mode in ("oof", "folds"):
        folder = write_recipe("twins", f"ens_{mode}", f"""
from skp.ensemble import Distil, Recipe, Run
recipe = Recipe(members=[Run({twins['config']!r}, run_id="teacher")],
                distil=Distil({twins['config']!r}, temperature=1.0, weight=0.9, teacher={mode!r}))
""")
        assert main([f"twins.ens_{mode}"]) == 0
        summary = json.loads((folder / "weights.json").read_text())
        cv[mode] = summary["distil"]["student"]["oof"]
        assert summary["distil"]["cv_is_honest"] == (mode == "folds")
        report = (folder / "report.md").read_text()
        assert "## Distilled student" in report and ("optimistic" in report) == (mode == "oof")
    chance = twins["agreement"]
    assert cv["oof"] > 0.9  # the leak: fold 0's random labels, learned through fold 1's twins
    assert cv["folds"] < 0.5 and abs(cv["folds"] - chance) < 0.15
