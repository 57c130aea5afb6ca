"""skp-ensemble end to end on digits: trained runs -> validated submission (marked slow)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skp.configs import load_config
from skp.ensemble import pipeline
from skp.ensemble.cli import main
from skp.ensemble.predict import build_dataset, build_task, inference_config, inference_loader, load_weights, run_inference
from skp.training.runs import run_dir
from skp.training.folds import train_folds

pytestmark = pytest.mark.slow
QUICK = {"limit_train_batches": 3, "enable_progress_bar": False}
RECIPE = """from skp.ensemble import Recipe, Run
recipe = Recipe(members=[Run("digits.cfg_baseline", run_id="pytest"), Run("digits.cfg_regnet", run_id="pytest")])
"""


@pytest.fixture(scope="module")
def trained():
    """Two configs, five folds each, one short epoch per fold."""
    for name in ("digits.cfg_baseline", "digits.cfg_regnet"):
        train_folds(name, ["--num_epochs", "1"], kfold="0,1,2,3,4", run_id="pytest", trainer_kwargs=QUICK)
    cfg = load_config("digits.cfg_baseline")
    return {"baseline": run_dir(cfg, "pytest"), "regnet": run_dir(load_config("digits.cfg_regnet"), "pytest"), "cfg": cfg}


def summary_of(folder):
    return json.loads((Path(folder) / "weights.json").read_text())


def test_recipe_gives_a_validated_submission_and_report(trained, write_recipe):
    folder = write_recipe("digits", "ens_pytest", RECIPE)
    assert main(["digits.ens_pytest"]) == 0
    cfg = trained["cfg"]
    sample = pd.read_csv(Path(cfg.data_dir) / "sample_submission.csv")
    submission = pd.read_csv(folder / "submission.csv")
    assert list(submission.columns) == list(sample.columns)
    assert submission.id.tolist() == sample.id.tolist()
    assert submission.label.dtype.kind == "i" and submission.label.between(0, 9).all()
    summary = summary_of(folder)
    assert [m["name"] for m in summary["members"]] == ["digits.cfg_baseline/pytest", "digits.cfg_regnet/pytest"]
    assert summary["blend"]["test"] is not None  # digits ships test labels
    assert summary["metric"] == "logloss" and summary["direction"] == "min"  # the members' val_metric
    assert summary["method"].startswith("auto: ") and len(summary["auto"]["candidates"]) == 1 + 6  # the default blend
    assert summary["blend"]["gain_over_best_member"] >= 0  # auto: never worse on CV than the best member
    expected = summary["blend"]["expected_on_test"]  # log loss, five fold checkpoints per member
    assert expected["checkpoints"] == 5 and expected["pooling_gain_best_member"] > 0
    assert len(pd.read_csv(folder / "oof.csv")) == 1437
    assert (folder / "report.md").read_text().startswith("# digits.ens_pytest")
    assert "Expected on test: " in (folder / "report.md").read_text()
    assert (folder / "report.png").stat().st_size > 10_000


def test_reblending_starts_from_the_snapshot_until_an_input_changes(trained, write_recipe, monkeypatch):
    folder = write_recipe("digits", "ens_pytest", RECIPE)
    assert main(["digits.ens_pytest"]) == 0
    assert (folder / "blend_inputs.npz").is_file()
    assert main(["digits.ens_pytest", "--blend", "stacker"]) == 0
    from_snapshot = summary_of(folder)
    assert from_snapshot["method"] == "stacker" and "snapshot" in from_snapshot

    # a retrained fold (here: a touched oof.csv) makes the snapshot stale; predictions
    # come from the cache, and no model is built to check checkpoints already predicted
    oof = trained["baseline"] / "fold3" / "oof.csv"
    oof.touch()
    monkeypatch.setattr(pipeline, "build_model", lambda cfg: pytest.fail("a cached member's model was built"))
    assert main(["digits.ens_pytest", "--blend", "stacker"]) == 0
    full = summary_of(folder)
    assert full["cache"] == {"hits": 10, "misses": 0} and "snapshot" not in full
    assert full["blend"] == from_snapshot["blend"] and full["members"] == from_snapshot["members"]


def test_a_reblend_from_the_snapshot_imports_no_torch(trained, write_recipe):
    write_recipe("digits", "ens_pytest", RECIPE)
    assert main(["digits.ens_pytest"]) == 0
    code = (
        "import sys; from skp.ensemble.cli import main\n"
        "assert main(['digits.ens_pytest', '--blend', 'mean']) == 0\n"
        "heavy = sorted({'torch', 'lightning', 'timm', 'albumentations'} & set(sys.modules))\n"
        "assert not heavy, heavy"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "from " in done.stdout and "blend_inputs.npz" in done.stdout


def test_predicting_a_validation_fold_reproduces_its_oof_file(trained):
    cfg = inference_config(trained["cfg"], "val", 2, None, None)
    task = build_task(cfg)
    task.model.load_state_dict(load_weights(trained["baseline"] / "fold2" / "best.pt", "validated"))
    dataset = build_dataset(cfg, "val")
    (pred,) = run_inference(task, [task.model], inference_loader(dataset, cfg, None))
    oof = pd.read_csv(trained["baseline"] / "fold2" / "oof.csv").set_index("id").loc[dataset.ids]
    np.testing.assert_allclose(pred, oof[[f"pred_{j}" for j in range(10)]].to_numpy(), atol=1e-5)


def test_tta_predicts_only_the_new_views_and_caches_them(trained, tmp_path):
    members = ["--run", "digits.cfg_baseline:pytest", "--run", "digits.cfg_regnet:pytest", "--output", str(tmp_path)]
    assert main([*members, "--tta", "hflip", "--blend", "mean"]) == 0
    first = summary_of(tmp_path)
    assert first["tta"] == ["none", "hflip"]
    # 2 members x 5 folds x (test hflip + OOF hflip) are new; the plain test views may be cached
    assert first["cache"]["misses"] >= 20
    # another output folder: no snapshot there, so every prediction comes from the cache
    members[-1] = str(tmp_path / "again")
    assert main([*members, "--tta", "hflip", "--blend", "greedy"]) == 0
    assert summary_of(tmp_path / "again")["cache"] == {"hits": 30, "misses": 0}


def test_interrupted_inference_keeps_what_finished(trained, tmp_path, monkeypatch, capsys):
    calls = []
    real = pipeline.run_inference

    def interrupted_on_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "run_inference", interrupted_on_the_third)
    argv = ["--run", "digits.cfg_baseline:pytest", "--tta", "vflip", "--output", str(tmp_path)]
    assert main(argv) == 130
    assert "cached predictions are kept" in capsys.readouterr().err
    assert not (tmp_path / "submission.csv").exists()
    monkeypatch.setattr(pipeline, "run_inference", real)
    assert main(argv) == 0
    assert summary_of(tmp_path)["cache"]["hits"] >= 2


def test_soup_predicts_once_per_member(trained, tmp_path):
    assert main(["--run", "digits.cfg_baseline:pytest", "--soup", "--output", str(tmp_path)]) == 0
    assert summary_of(tmp_path)["cache"]["hits"] + summary_of(tmp_path)["cache"]["misses"] == 1
    assert pd.read_csv(tmp_path / "submission.csv").label.between(0, 9).all()


def test_an_ensemble_output_blends_as_prediction_files(trained, tmp_path):
    first = tmp_path / "first"
    assert main(["--run", "digits.cfg_regnet:pytest", "--output", str(first)]) == 0
    files = f"regnet_files={first / 'oof.csv'},{first / 'test_predictions.csv'}"
    assert main(["--run", "digits.cfg_baseline:pytest", "--files", files, "--blend", "mean", "--output", str(tmp_path / "second")]) == 0
    members = summary_of(tmp_path / "second")["members"]
    assert members[1]["name"] == "regnet_files"
    assert members[1]["oof"] == pytest.approx(summary_of(first)["members"][0]["oof"])


def no_inference(*args, **kwargs):
    raise AssertionError("inference ran before the inputs were checked")


def test_missing_run_is_named_with_the_runs_that_exist(trained, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pipeline, "run_inference", no_inference)
    assert main(["--run", "digits.cfg_baseline:nope", "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no run 'nope'" in err and "pytest (" in err


def test_members_missing_folds_are_refused(trained, tmp_path, monkeypatch, capsys):
    train_folds("digits.cfg_baseline", ["--num_epochs", "1"], kfold="0", run_id="pytest-fold0", trainer_kwargs=QUICK)
    monkeypatch.setattr(pipeline, "run_inference", no_inference)
    assert main(["--run", "digits.cfg_baseline:pytest-fold0", "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "has finished folds [0], not [1, 2, 3, 4]" in err and "--kfold 1,2,3,4" in err


def test_checkpoint_that_does_not_fit_its_config_is_refused(trained, tmp_path, monkeypatch, capsys):
    copy = tmp_path / "regnet_copy"
    shutil.copytree(trained["regnet"], copy)
    shutil.copy(trained["baseline"] / "fold3" / "best.pt", copy / "fold3" / "best.pt")
    monkeypatch.setattr(pipeline, "run_inference", no_inference)
    assert main(["--run-dir", str(copy), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "fold3/best.pt does not fit the model of digits.cfg_regnet" in err and "missing" in err


def test_prediction_files_with_other_ids_are_refused(trained, tmp_path, capsys):
    oof = pd.read_csv(trained["regnet"] / "fold0" / "oof.csv")
    oof.to_csv(tmp_path / "oof.csv", index=False)
    oof.to_csv(tmp_path / "test.csv", index=False)
    files = f"partial={tmp_path / 'oof.csv'},{tmp_path / 'test.csv'}"
    assert main(["--run", "digits.cfg_baseline:pytest", "--files", files, "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "of partial does not cover the expected 1437 ids" in err and f"{1437 - len(oof)} missing" in err


def test_study_trials_are_members(trained, tmp_path, capsys):
    from skp.tune.cli import main as tune

    assert tune(["digits.cfg_baseline", "--study", "pytest_ens", "--trials", "2", "--no-export", "--num_epochs", "1", "--limit_train_batches", "2", "--enable_progress_bar", "False"]) == 0
    assert main(["--study", "pytest_ens:2", "--output", str(tmp_path)]) == 2
    assert "folds=[...]" in capsys.readouterr().err  # trials trained fold 0 only
    assert main(["--study", "pytest_ens:2", "--folds", "0", "--output", str(tmp_path)]) == 0
    summary = summary_of(tmp_path)
    assert [m["name"].split("#")[0] for m in summary["members"]] == ["pytest_ens", "pytest_ens"]
    assert summary["folds"] == [0]
    assert len(pd.read_csv(tmp_path / "oof.csv")) == 288  # the rows of fold 0

    # +baseline adds the baseline trial (skp-tune's first) after the best, never twice
    for top_k, count in ((1, {1, 2}), (2, {2})):
        assert main(["--study", f"pytest_ens:{top_k}+baseline", "--folds", "0", "--output", str(tmp_path / f"b{top_k}")]) == 0
        names = [m["name"] for m in summary_of(tmp_path / f"b{top_k}")["members"]]
        assert names[-1] == "pytest_ens#0" or "pytest_ens#0" in names[:1]
        assert len(set(names)) == len(names) and len(names) in count


def test_regression_with_metadata_blends_into_a_float_submission(boneage_dir, tmp_path):
    small = ["--data_dir", str(boneage_dir), "--pretrained", "False", "--backbone", "resnet10t", "--image_height", "32",
             "--image_width", "32", "--batch_size", "8", "--num_workers", "0", "--num_epochs", "1"]
    for run_id, extra in (("pytest-a", []), ("pytest-b", ["--dropout", "0.5"])):
        train_folds("boneage.cfg_baseline", small + extra, kfold="0,1,2,3", run_id=run_id, trainer_kwargs=QUICK)
    test = pd.read_csv(boneage_dir / "test.csv")
    test[["pid"]].iloc[::-1].assign(bone_age=0.0).to_csv(boneage_dir / "sample_submission.csv", index=False)
    argv = ["--run", "boneage.cfg_baseline:pytest-a", "--run", "boneage.cfg_baseline:pytest-b", "--blend", "simplex"]
    assert main([*argv, "--output", str(tmp_path)]) == 0
    summary = summary_of(tmp_path)
    assert summary["problem"] == "regression" and summary["metric"] == "mae" and summary["direction"] == "min"
    submission = pd.read_csv(tmp_path / "submission.csv")
    assert submission.pid.tolist() == test.pid.tolist()[::-1]
    assert submission.bone_age.dtype.kind == "f" and submission.bone_age.notna().all()


def test_missing_study_lists_the_studies(tmp_path, capsys):
    assert main(["--study", "no_such_study", "--output", str(tmp_path)]) == 2
    assert "No study 'no_such_study'" in capsys.readouterr().err


def test_inference_costs_are_measured_once_and_reported(trained, tmp_path):
    members = ["--run", "digits.cfg_baseline:pytest", "--run", "digits.cfg_regnet:pytest", "--blend", "mean", "--no-cache"]
    assert main([*members, "--output", str(tmp_path / "first")]) == 0
    costs = [m["cost"] for m in summary_of(tmp_path / "first")["members"]]
    for cost in costs:
        (view,) = cost["views"].values()
        assert len(view["models"]) == 5 and all(s > 0 for s in view["models"]) and view["load"] > 0
        assert cost["seconds_per_image"] == pytest.approx(view["load"] + sum(view["models"]))
    report = (tmp_path / "first" / "report.md").read_text()
    assert "## Inference cost" in report and "| digits.cfg_baseline/pytest | 1 x 5 |" in report
    # cached predictions keep the cost measured when they were computed
    assert main([*members[:-1], "--output", str(tmp_path / "cached")]) == 0
    assert main([*members[:-1], "--output", str(tmp_path / "again")]) == 0
    cached, again = (summary_of(tmp_path / name) for name in ("cached", "again"))
    assert again["cache"]["misses"] == 0
    assert [m["cost"] for m in again["members"]] == [m["cost"] for m in cached["members"]]


def test_remeasured_costs_replace_the_cached_ones_and_keep_the_predictions(trained, tmp_path):
    members = ["--run", "digits.cfg_baseline:pytest", "--run", "digits.cfg_regnet:pytest", "--blend", "mean"]
    assert main([*members, "--output", str(tmp_path / "first")]) == 0
    assert main([*members, "--output", str(tmp_path / "timed"), "--remeasure-costs"]) == 0
    assert main([*members, "--output", str(tmp_path / "later")]) == 0
    first, timed, later = (summary_of(tmp_path / name) for name in ("first", "timed", "later"))
    assert timed["cache"]["misses"] == 0  # timed again, not predicted again
    assert [m["cost"] for m in timed["members"]] != [m["cost"] for m in first["members"]]
    assert [m["cost"] for m in later["members"]] == [m["cost"] for m in timed["members"]]
    assert all(v > 0 for m in timed["members"] for v in m["cost"]["views"]["none"]["models"])
    submissions = [pd.read_csv(tmp_path / name / "submission.csv") for name in ("first", "timed")]
    pd.testing.assert_frame_equal(*submissions)


def test_a_burst_of_other_work_does_not_move_the_measured_cost():
    """The cost is the median batch's: one batch slowed by another process (here a sleep)
    leaves it where the other batches put it."""
    import time

    import torch

    class Slowed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, batch):
            self.calls += 1
            time.sleep(0.2 if self.calls == 4 else 0.002)
            return {"logits": batch["x"]}

    class Task:
        @staticmethod
        def predict(out):
            return out["logits"]

    loader = [{"x": torch.zeros(4, 3)} for _ in range(9)]
    timing = {}
    run_inference(Task(), [Slowed()], loader, timing=timing)
    assert timing["models"][0] < 0.01 / 4  # the mean of the timed batches would be about 0.0077 / 4


def test_a_budget_chooses_what_fits_and_says_so(trained, tmp_path):
    members = ["--run", "digits.cfg_baseline:pytest", "--run", "digits.cfg_regnet:pytest", "--tta", "hflip"]
    assert main([*members, "--output", str(tmp_path / "all")]) == 0
    full = summary_of(tmp_path / "all")
    images = full["test_images"]
    everything = sum(m["cost"]["seconds_per_image"] for m in full["members"]) * images
    budget = everything / 3
    assert main([*members, "--output", str(tmp_path / "budget"), "--budget", f"{budget:.6f}"]) == 0
    summary = summary_of(tmp_path / "budget")
    chosen = summary["budget"]["chosen"]
    assert chosen["seconds"] <= budget < everything
    assert [m["name"] for m in summary["members"]] == chosen["members"]
    assert (tmp_path / "budget" / "budget.png").stat().st_size > 10_000
    assert "## Inference budget" in (tmp_path / "budget" / "report.md").read_text()
    submission = pd.read_csv(tmp_path / "budget" / "submission.csv")
    assert len(submission) == images
    # the choice as a recipe: on the competition's machine it predicts the chosen pieces only
    within = tmp_path / "budget" / "within_budget.py"
    assert summary["budget"]["recipe"] == str(within) and f"skp-ensemble {within}" in (tmp_path / "budget" / "report.md").read_text()
    assert main([str(within)]) == 0
    again = summary_of(tmp_path / "budget" / "within_budget")
    assert again["cache"]["misses"] == 0  # nothing beyond the chosen pieces was predicted
    assert [m["name"] for m in again["members"]] == chosen["members"] and again["tta"] == chosen["views"]
    assert [len(next(iter(m["cost"]["views"].values()))["models"]) for m in again["members"]] == [chosen["checkpoints"]] * len(chosen["members"])
    assert (tmp_path / "budget" / "within_budget" / "submission.csv").read_bytes() == (tmp_path / "budget" / "submission.csv").read_bytes()


def test_a_recipe_files_budget_choice_keeps_its_settings(trained, write_recipe):
    folder = write_recipe("digits", "ens_budget", RECIPE.replace("Recipe(members=", "Recipe(blend='geometric', budget=1e6, members="))
    assert main(["digits.ens_budget"]) == 0  # a budget everything fits in: every piece is chosen
    assert main([str(folder / "within_budget.py")]) == 0
    first, again = summary_of(folder), summary_of(folder / "within_budget")
    assert again["method"] == first["method"] == "geometric" and again["cache"]["misses"] == 0
    assert (folder / "within_budget" / "submission.csv").read_bytes() == (folder / "submission.csv").read_bytes()


def test_checkpoints_predict_with_the_first_fold_checkpoints(trained, tmp_path):
    members = ["--run", "digits.cfg_baseline:pytest", "--blend", "mean", "--output", str(tmp_path / "two")]
    assert main([*members, "--checkpoints", "2"]) == 0
    (member,) = summary_of(tmp_path / "two")["members"]
    assert len(member["cost"]["views"]["none"]["models"]) == 2
    assert main([*members, "--checkpoints", "6"]) == 2  # five folds were trained


STUDENT = """from skp.ensemble import Distil, Recipe, Run
recipe = Recipe(members=[Run("digits.cfg_baseline", run_id="pytest"), Run("digits.cfg_regnet", run_id="pytest")],
                blend="mean", distil=Distil("digits.cfg_baseline", overrides=["--num_epochs", "1"], pseudo_labels=True))
"""


def test_a_student_distils_the_blend_and_joins_a_later_recipe(trained, write_recipe, tmp_path):
    folder = write_recipe("digits", "ens_student", STUDENT)
    assert main(["digits.ens_student"]) == 0
    distil = summary_of(folder)["distil"]
    student = distil["student"]
    assert distil["teacher_blend"] == {"method": "mean", "members": ["digits.cfg_baseline/pytest", "digits.cfg_regnet/pytest"]}
    assert np.isfinite(student["oof"]) and np.isfinite(student["test"]) and student["cost"]["seconds_per_image"] > 0
    teacher = Path(distil["teacher_dir"])
    for fold in range(5):  # fold k's teacher: the fold-k checkpoints on every training row and test image
        table, test = pd.read_csv(teacher / f"fold{fold}.csv"), pd.read_csv(teacher / f"fold{fold}_test.csv")
        assert len(table) == 1437 and np.allclose(table.filter(like="p").sum(axis=1), 1.0, atol=1e-4)
        assert len(test) == 360 and (test.y0 == test.filter(like="p").to_numpy().argmax(1)).all()
    folds = [json.loads((Path(student["run_dir"]) / f"fold{f}" / "done.json").read_text()) for f in range(5)]
    assert all(done["train_samples"] == 1437 - done["val_samples"] + 360 for done in folds)  # the test images joined
    run = Path(student["run_dir"])
    meta = json.loads((run / "run.json").read_text())
    assert ["distil.teacher", str(teacher)] in meta["overrides"]
    report = (folder / "report.md").read_text()
    assert "## Distilled student" in report and f"run_id={run.name!r}" in report and "optimistic" not in report

    # the same command again: the teacher is the same, so the finished student is found, not retrained
    done = (run / "fold0" / "done.json").stat().st_mtime
    assert main(["digits.ens_student"]) == 0
    assert summary_of(folder)["distil"]["student"] == student and (run / "fold0" / "done.json").stat().st_mtime == done

    # the student is an ordinary run: a member of the next recipe
    assert main(["--run", f"digits.cfg_baseline:{run.name}", "--run", "digits.cfg_regnet:pytest", "--output", str(tmp_path / "next")]) == 0
    names = [m["name"] for m in summary_of(tmp_path / "next")["members"]]
    assert names == [f"digits.cfg_baseline/{run.name}", "digits.cfg_regnet/pytest"]
