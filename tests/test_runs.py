"""Run identity: the same training gets the same run directory."""

import json

from skp.configs import load_config
from skp.runs import default_run_id, prepare_run_dir, run_fingerprint


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
