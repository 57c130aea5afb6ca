"""Run identity: the same training gets the same run directory."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

import skp
from skp.callbacks.run_artifacts import RESUME_FILE
from skp.configs import load_config
from skp.provenance import changed_sources, git_state
from skp.training.runs import default_run_id, fold_state, prepare_run_dir, run_fingerprint, write_done


def test_display_flags_do_not_change_the_run():
    cfg = load_config("digits.cfg_baseline")
    plain = run_fingerprint(cfg, [])
    assert run_fingerprint(cfg, [], trainer_kwargs={"enable_progress_bar": False, "log_every_n_steps": 5}) == plain
    assert run_fingerprint(cfg, [], trainer_kwargs={"limit_train_batches": 2}) != plain
    assert run_fingerprint(cfg, [("dropout", "0.2")]) != plain
    assert default_run_id(plain) == f"run-{plain[:8]}"


def test_run_json_keeps_the_overrides(tmp_path):
    cfg = load_config("digits.cfg_baseline", ["--dropout", "0.2"])
    cfg.save_dir = str(tmp_path)
    directory = prepare_run_dir(cfg, "r1", "f" * 40, overwrite=False, overrides=[("dropout", "0.2")])
    meta = json.loads((directory / "run.json").read_text())
    assert meta["overrides"] == [["dropout", "0.2"]] and meta["config_name"] == "digits.cfg_baseline"


def test_inherited_configs_are_sources_of_the_run():
    cfg = load_config("digits.cfg_regnet")  # builds on digits.cfg_baseline with load_config
    names = [Path(f).name for f in cfg.config_sources]
    assert names == ["cfg_regnet.py", "cfg_baseline.py"]


def test_the_fingerprint_covers_inherited_files(tmp_path):
    cfg = load_config("digits.cfg_regnet")
    parent = tmp_path / "cfg_baseline.py"
    parent.write_text(Path(cfg.config_sources[1]).read_text())
    cfg.config_sources = [cfg.config_sources[0], str(parent)]
    before = run_fingerprint(cfg, [])
    parent.write_text(parent.read_text() + "\ncfg.dropout = 0.3\n")
    assert run_fingerprint(cfg, []) != before


def test_run_json_records_provenance_and_config_copies(tmp_path):
    cfg = load_config("digits.cfg_regnet", ["--seed", "7"])
    cfg.save_dir = str(tmp_path)
    directory = prepare_run_dir(cfg, "r1", "f" * 40, overwrite=False, trainer_kwargs={"limit_train_batches": 3})
    meta = json.loads((directory / "run.json").read_text())
    record = meta["provenance"]
    assert meta["trainer_kwargs"] == {"limit_train_batches": 3}
    assert record["skp"] == skp.__version__ and record["seed"] == 7
    assert set(record["packages"]) == {"torch", "lightning", "timm", "albumentations", "optuna"}
    assert record["packages"]["torch"] == torch.__version__.split("+")[0]
    assert record["python"] and record["host"] and record["device"].startswith("cpu")
    assert list(record["config_sources"]) == [str(Path(f).resolve()) for f in cfg.config_sources]
    if record["config_git"] is not None:  # a checkout (an sdist install has no repository)
        assert len(record["config_git"]["commit"]) == 40 and isinstance(record["config_git"]["dirty"], bool)
    for source in cfg.config_sources:
        copy = directory / "config_src" / "digits" / Path(source).name
        assert copy.read_text() == Path(source).read_text()
    assert changed_sources(record) == []


def test_git_state_sees_uncommitted_changes(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    run = lambda *args: subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)
    run("init", "-q")
    config = tmp_path / "cfg_x.py"
    config.write_text("a = 1\n")
    assert git_state(config)["dirty"]  # not committed yet
    run("add", "cfg_x.py")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    state = git_state(config)
    assert not state["dirty"] and len(state["commit"]) == 40
    config.write_text("a = 2\n")
    assert git_state(config)["dirty"]
    assert git_state(Path("/") / "cfg.py") is None  # outside any repository


@pytest.mark.slow
def test_two_commands_training_one_run_at_once_train_each_fold_once(tmp_path):
    import os
    import sys

    from tests.processes import Logged

    command = [sys.executable, "-m", "skp.train", "digits.cfg_baseline", "--kfold", "0,1", "--num_epochs", "1",
               "--limit_train_batches", "3", "--enable_progress_bar", "False", "--save_dir", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    both = [Logged(command, env=env) for _ in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in both]
    assert [p.returncode for p in both] == [0, 0], outputs
    assert not any("Traceback" in out for out in outputs)
    (run,) = (tmp_path / "digits" / "cfg_baseline").iterdir()
    for fold in (0, 1):
        starts = list((run / f"fold{fold}" / "logs").glob("version_*"))
        assert len(starts) == 1, f"fold {fold} was trained {len(starts)} times"
    values = [[line for line in out.splitlines() if line.startswith("│ mean")] for out in outputs]
    assert values[0] == values[1]  # the waiting command reports the other's folds


@pytest.mark.parametrize("kept_state, after_a_shorter_rung", [(True, "resumable"), (False, "new")])
def test_a_rungs_fold_is_done_only_at_its_own_length(tmp_path, kept_state, after_a_shorter_rung):
    """A fold that ended a 2-epoch rung is the 4-epoch rung's start: it goes on from the
    state the rung kept (continued rungs), or starts anew (rungs from scratch)."""
    fold = tmp_path / "fold0"
    fold.mkdir()
    write_done(fold, {"fold": 0, "epochs": 2, "num_epochs": 2})
    if kept_state:
        torch.save({"epoch": 2}, fold / RESUME_FILE)
    assert fold_state(fold, 2) == "done"
    assert fold_state(fold) == "done"  # outside rungs a finished fold is done
    assert fold_state(fold, 4) == after_a_shorter_rung
    assert fold.exists() == kept_state  # a fold that starts anew is cleared
