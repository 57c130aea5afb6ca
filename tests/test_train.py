"""End-to-end skp-train runs on real digits and generated stand-ins (marked slow)."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import lightning.pytorch as pl
import numpy as np
import pandas as pd
import pytest
import torch

from skp.configs import load_config
from skp.registry import resolve
from skp.train import main
from skp.training.folds import train_folds

pytestmark = pytest.mark.slow
FAST = ["--limit_train_batches", "4", "--num_epochs", "1", "--batch_size", "32"]
REPO = Path(__file__).resolve().parent.parent


def _run_dir(tmp_path, run_id):
    return tmp_path / "digits" / "cfg_baseline" / run_id


def test_one_epoch_writes_every_artefact(tmp_path, capsys):
    assert main(["digits.cfg_baseline", "--save_dir", str(tmp_path), "--run_id", "r1", *FAST]) == 0
    run = _run_dir(tmp_path, "r1")
    assert json.loads((run / "run.json").read_text())["config_name"] == "digits.cfg_baseline"
    fold = run / "fold0"
    for name in ("config.json", "best.pt", "last.pt", "oof.csv", "history.csv", "done.json"):
        assert (fold / name).is_file(), name
    assert not (fold / "resume.ckpt").exists()
    assert json.loads((fold / "config.json").read_text())["fold"] == 0

    cfg = load_config("digits.cfg_baseline")
    train = pd.read_csv(Path(cfg.data_dir) / "train.csv")
    oof = pd.read_csv(fold / "oof.csv")
    assert sorted(oof.id) == sorted(train[train.fold == 0].id)  # one row per validation sample
    probabilities = oof[[f"pred_{k}" for k in range(10)]].to_numpy()
    assert probabilities.sum(1) == pytest.approx(1.0, abs=1e-4)
    labels = train.set_index("id").loc[oof.id, "label"].to_numpy()
    assert (oof.target.to_numpy() == labels).all()

    history = pd.read_csv(fold / "history.csv")
    assert list(history.epoch) == [0] and "val/accuracy" in history.columns
    done = json.loads((fold / "done.json").read_text())
    best = torch.load(fold / "best.pt", weights_only=True)
    assert best["value"] == pytest.approx(done["best_value"])
    assert best["value"] == pytest.approx(history["val/logloss"].iloc[0])  # digits' monitored value
    net = resolve("models", cfg.model)(cfg)
    net.load_state_dict(best["state_dict"])  # weights only, loadable into the config's Net
    assert "fold" in capsys.readouterr().out  # the summary table


class SpoilLastEpoch(pl.Callback):
    """Scales the weights up before the last validation: a final epoch far worse than the first."""

    def on_validation_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == trainer.max_epochs - 1:
            with torch.no_grad():
                for parameter in pl_module.parameters():
                    parameter.mul_(50.0)


def test_a_fold_keeps_its_best_or_its_last_epoch(tmp_path):
    """Same seed, so the same curve: `best` keeps its minimum, `last` its final epoch,
    and the last run's best.pt is the best run's last.pt."""
    kwargs = {"trainer_kwargs": {"limit_train_batches": 4}, "callbacks": [SpoilLastEpoch()]}
    for select in ("best", "last"):
        tokens = ["--save_dir", str(tmp_path), "--num_epochs", "2", "--select_epoch", select]
        train_folds("digits.cfg_baseline", tokens, run_id=select, **kwargs)
    best, last = (_run_dir(tmp_path, select) / "fold0" for select in ("best", "last"))
    curve = pd.read_csv(best / "history.csv")["val/logloss"]
    pd.testing.assert_series_equal(curve, pd.read_csv(last / "history.csv")["val/logloss"])
    assert curve[1] > curve[0]
    for fold, epoch in ((best, 0), (last, 1)):
        done = json.loads((fold / "done.json").read_text())
        assert done["best_epoch"] == epoch and done["best_value"] == pytest.approx(curve[epoch])
        assert torch.load(fold / "best.pt", weights_only=True)["epoch"] == epoch
    kept, final = (torch.load(path, weights_only=True)["state_dict"] for path in (last / "best.pt", best / "last.pt"))
    assert all(torch.equal(kept[k], final[k]) for k in final)
    assert not pd.read_csv(last / "oof.csv").equals(pd.read_csv(best / "oof.csv"))


def test_same_command_skips_finished_folds(tmp_path, capsys):
    argv = ["digits.cfg_baseline", "--save_dir", str(tmp_path), *FAST]
    assert main(argv) == 0
    assert main(argv) == 0
    assert "already finished" in capsys.readouterr().out
    assert len(list((tmp_path / "digits" / "cfg_baseline").iterdir())) == 1  # same default run id


class CrashAfterFirstEpoch(pl.Callback):
    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise RuntimeError("simulated crash")


def test_interrupted_fold_resumes_with_the_same_command(tmp_path, capsys):
    overrides = ["--save_dir", str(tmp_path), "--limit_train_batches", "3", "--num_epochs", "2"]
    tokens, kwargs = overrides[:2] + overrides[4:], {"trainer_kwargs": {"limit_train_batches": 3}}
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_folds("digits.cfg_baseline", tokens, run_id="crash", callbacks=[CrashAfterFirstEpoch()], **kwargs)
    fold = _run_dir(tmp_path, "crash") / "fold0"
    assert (fold / "resume.ckpt").exists() and not (fold / "done.json").exists()
    results = train_folds("digits.cfg_baseline", tokens, run_id="crash", **kwargs)
    assert "resuming fold 0" in capsys.readouterr().out
    assert results[0]["epochs"] == 2
    assert list(pd.read_csv(fold / "history.csv").epoch) == [0, 1]
    assert not (fold / "resume.ckpt").exists()


def test_several_folds_and_a_summary(tmp_path, capsys):
    assert main(["digits.cfg_baseline", "--save_dir", str(tmp_path), "--kfold", "1,2", "--run_id", "k", *FAST]) == 0
    run = _run_dir(tmp_path, "k")
    assert (run / "fold1" / "done.json").exists() and (run / "fold2" / "done.json").exists()
    assert "mean" in capsys.readouterr().out


def test_ema_and_mixup(tmp_path):
    argv = ["digits.cfg_baseline", "--save_dir", str(tmp_path), "--run_id", "ema", "--ema.on", "True", "--mixup", "0.4", "--mixup_prob", "1.0", *FAST]
    assert main(argv) == 0
    best = torch.load(_run_dir(tmp_path, "ema") / "fold0" / "best.pt", weights_only=True)
    assert best["validated"] == "ema_state_dict"
    assert set(best["ema_state_dict"]) == set(best["state_dict"])


def test_boneage_end_to_end_on_a_stand_in(tmp_path, boneage_dir):
    argv = [
        "boneage.cfg_baseline", "--data_dir", str(boneage_dir), "--save_dir", str(tmp_path),
        "--pretrained", "False", "--backbone", "resnet10t", "--image_height", "32", "--image_width", "32",
        "--batch_size", "8", "--num_workers", "0", "--num_epochs", "1", "--kfold", "0,1",
    ]
    assert main(argv) == 0
    run = next((tmp_path / "boneage" / "cfg_baseline").iterdir())
    oof = pd.read_csv(run / "fold1" / "oof.csv")
    assert {"pid", "fold", "target", "pred"} <= set(oof.columns) and len(oof) == 10


def test_segmentation_end_to_end(tmp_path):
    argv = ["shapes.cfg_unet", "--save_dir", str(tmp_path), "--num_epochs", "1", "--limit_train_batches", "3", "--image_height", "32", "--image_width", "32"]
    assert main(argv) == 0
    run = next((tmp_path / "shapes" / "cfg_unet").iterdir())
    oof = pd.read_csv(run / "fold0" / "oof.csv")
    assert len(oof) == 32 and oof.dice.between(0, 1).all()


def test_segmentation_keeps_the_best_epochs_probability_maps(tmp_path):
    argv = ["shapes.cfg_unet", "--save_dir", str(tmp_path), "--num_epochs", "3", "--limit_train_batches", "3",
            "--image_height", "32", "--image_width", "32", "--run_id", "masks"]
    assert main(argv) == 0
    fold = tmp_path / "shapes" / "cfg_unet" / "masks" / "fold0"
    masks = np.load(fold / "oof_masks.npy", mmap_mode="r")
    assert masks.shape == (32, 1, 32, 32) and masks.dtype == np.uint8  # model resolution, one sigmoid channel
    assert not list(fold.glob("*.partial"))
    # the same samples and the same epoch as oof.csv: its Dice per sample, from the stored maps
    oof = pd.read_csv(fold / "oof.csv")
    cfg = load_config("shapes.cfg_unet")
    frame = pd.read_csv(Path(cfg.data_dir) / cfg.annotations_file).set_index(cfg.id_column)
    for row, stored in zip(oof.itertuples(), masks):
        true = cv2.resize(cv2.imread(str(Path(cfg.data_dir) / frame.loc[row.id, cfg.masks]), cv2.IMREAD_GRAYSCALE), (32, 32), interpolation=cv2.INTER_NEAREST) > 127
        predicted = stored[0] > 127
        dice = (2 * (predicted & true).sum() + 1e-6) / (predicted.sum() + true.sum() + 1e-6)
        assert dice == pytest.approx(row.dice, abs=0.02)


def test_neptune_offline_logging(tmp_path, monkeypatch):
    pytest.importorskip("neptune")
    monkeypatch.chdir(tmp_path)
    assert main(["digits.cfg_baseline", "--neptune_mode", "offline", "--save_dir", str(tmp_path), *FAST]) == 0
    runs = list((tmp_path / ".neptune").rglob("*.log")) + list((tmp_path / ".neptune").rglob("*.bin"))
    assert runs, "neptune offline mode wrote nothing"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["digits.cfg_nope"], "Configs in skp's examples: boneage.cfg_baseline, digits.cfg_baseline"),
        (["digits.cfg_baseline", "--lr", "0.1"], "Unknown config attribute --lr"),
        (["digits.cfg_baseline", "--batch_size", "big"], "'big'"),
        (["digits.cfg_baseline", "--kfold", "0,x"], "--kfold"),
        (["digits.cfg_baseline", "--val_metric", "acc", "--debug"], "val_metric 'acc'"),
        (["boneage.cfg_baseline", "--data_dir", "/nonexistent/boneage", "--pretrained", "False"], "train_kfold.csv not found"),
        (["digits.cfg_baseline", "--neptune_mode", "async", *FAST], "NEPTUNE_API_TOKEN"),
    ],
)
def test_bad_input_is_a_clear_error(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NEPTUNE_API_TOKEN", raising=False)
    assert main([*argv, "--save_dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_run_dir_of_another_config_is_not_reused(tmp_path, capsys):
    assert main(["digits.cfg_baseline", "--save_dir", str(tmp_path), "--run_id", "x", *FAST]) == 0
    assert main(["digits.cfg_baseline", "--save_dir", str(tmp_path), "--run_id", "x", "--dropout", "0.3", *FAST]) == 2
    assert "--overwrite_run" in capsys.readouterr().err


def test_python_skp_train_script_works(tmp_path):
    result = subprocess.run(
        [sys.executable, "skp/train.py", "digits.cfg_baseline", "--debug", "--save_dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "digits" / "cfg_baseline" / "debug" / "fold0" / "done.json").exists()


def test_reproduce_repeats_a_run_exactly(tmp_path, capsys):
    assert main(["digits.cfg_baseline", "--save_dir", str(tmp_path), "--run_id", "orig", "--mixup", "0.4", *FAST]) == 0
    original = _run_dir(tmp_path, "orig")
    assert main(["--reproduce", str(original)]) == 0
    out = capsys.readouterr().out
    assert "identical" in out
    copy = _run_dir(tmp_path, "orig-repro1")
    assert (copy / "fold0" / "oof.csv").read_bytes() == (original / "fold0" / "oof.csv").read_bytes()
    assert json.loads((copy / "run.json").read_text())["trainer_kwargs"] == {"limit_train_batches": 4}


def test_reproduce_refuses_a_run_whose_config_changed(tmp_path, capsys):
    config = tmp_path / "cfg_old.py"
    config.write_text("cfg = None\n")
    run = tmp_path / "run"
    run.mkdir()
    record = {"config_sources": {str(config): "0" * 40}, "config_git": {"commit": "a" * 40, "dirty": False}}
    (run / "run.json").write_text(json.dumps({"run_id": "run", "config_name": "digits.cfg_old", "overrides": [], "provenance": record}))
    assert main(["--reproduce", str(run)]) == 2
    err = capsys.readouterr().err
    assert "changed since it ran (commit " + "a" * 40 in err and "config_src/" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--reproduce", "nowhere"], "has no run.json"),
        (["--reproduce", "no_such_study:3"], "no study 'no_such_study'"),
        (["digits.cfg_baseline", "--reproduce", "x"], "takes everything from the run's run.json"),
        ([], "Name a config to train"),
    ],
)
def test_bad_reproduce_input_is_a_clear_error(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
