"""Same config, seed and fold give the same run, byte for byte, on a CPU (marked slow)."""

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from skp.training.folds import train_folds

pytestmark = pytest.mark.slow
# Augmentation (affine), mixup, dropout and EMA all draw random numbers.
DIGITS = ["--num_epochs", "3", "--mixup", "0.4", "--ema.on", "True", "--batch_size", "32"]
TRAINER = {"limit_train_batches": 5, "limit_val_batches": 3, "enable_progress_bar": False}


def _train(tmp_path, run_id, extra=(), config="digits.cfg_baseline", callbacks=()) -> Path:
    argv = [*(DIGITS if config.startswith("digits.") else []), "--save_dir", str(tmp_path), *extra]
    train_folds(config, argv, run_id=run_id, trainer_kwargs=TRAINER, callbacks=callbacks)
    project, _, name = config.partition(".")
    return tmp_path / project / name / run_id / "fold0"


def _same_tensors(a: Path, b: Path) -> bool:
    first, second = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    keys = [k for k in ("state_dict", "ema_state_dict") if k in first]
    return all(torch.equal(first[k][n], second[k][n]) for k in keys for n in first[k]) and first["epoch"] == second["epoch"]


def _same_run(a: Path, b: Path) -> bool:
    return (
        (a / "oof.csv").read_bytes() == (b / "oof.csv").read_bytes()
        and (a / "history.csv").read_bytes() == (b / "history.csv").read_bytes()
        and _same_tensors(a / "best.pt", b / "best.pt")
        and _same_tensors(a / "last.pt", b / "last.pt")
    )


@pytest.mark.parametrize("workers", [0, 2])
def test_same_seed_same_run(tmp_path, workers):
    first = _train(tmp_path, "a", ["--num_workers", str(workers)])
    second = _train(tmp_path, "b", ["--num_workers", str(workers)])
    assert _same_run(first, second)


def test_loader_workers_do_not_change_the_run(tmp_path):
    """Each item is seeded by (seed, fold, epoch, index), whichever process draws it."""
    assert _same_run(_train(tmp_path, "w0", ["--num_workers", "0"]), _train(tmp_path, "w2", ["--num_workers", "2"]))


def test_another_seed_or_fold_gives_another_run(tmp_path):
    base = _train(tmp_path, "s42")
    other_seed = _train(tmp_path, "s7", ["--seed", "7"])
    assert (base / "history.csv").read_bytes() != (other_seed / "history.csv").read_bytes()
    assert not _same_tensors(base / "last.pt", other_seed / "last.pt")


class _Crash(pl.Callback):
    """Dies after the second epoch's resume.ckpt is written, like a killed process."""

    def on_validation_end(self, trainer, pl_module):
        if trainer.current_epoch == 1 and not trainer.sanity_checking:
            raise RuntimeError("simulated crash")


def test_a_resumed_run_equals_the_uninterrupted_one(tmp_path):
    whole = _train(tmp_path, "whole")
    with pytest.raises(RuntimeError, match="simulated crash"):
        _train(tmp_path, "cut", callbacks=[_Crash()])
    assert (whole.parent.parent / "cut" / "fold0" / "resume.ckpt").exists()
    resumed = _train(tmp_path, "cut")
    assert _same_run(whole, resumed)


def test_segmentation_is_deterministic(tmp_path):
    # flips augment; dropout-free U-Net
    extra = ["--image_height", "32", "--image_width", "32", "--num_epochs", "2", "--batch_size", "8"]
    first = _train(tmp_path, "a", extra, config="shapes.cfg_unet")
    second = _train(tmp_path, "b", extra, config="shapes.cfg_unet")
    assert _same_run(first, second)
    assert (first / "oof_masks.npy").read_bytes() == (second / "oof_masks.npy").read_bytes()
