"""Bad input ends in one paragraph and exit status 2, with nothing finished lost."""

import errno
from pathlib import Path

import optuna
import pytest
import torch

from skp.ensemble.predict import load_weights
from skp.errors import SkpError
from skp.train import main as train_main
from skp.tune.cli import main as tune_main
from skp.tune.space import Float
from skp.tune.study import check_same_space


def one_paragraph(text: str) -> str:
    assert "Traceback" not in text
    lines = [line for line in text.strip().splitlines() if "Warning" not in line and "warn(" not in line]
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def studies(tmp_path, monkeypatch):
    monkeypatch.setenv("SKP_STUDIES_DIR", str(tmp_path / "studies"))
    return tmp_path


@pytest.mark.parametrize(
    "storage, message",
    [
        ("postgresql://me:secret@127.0.0.1:1/db", r"Cannot open --storage postgresql://me:\*\*\*@127.0.0.1:1/db: .*refused"),
        ("postgresq://me@localhost/db", "Cannot open --storage postgresq://me@localhost/db: .*postgresq"),
        ("sqlite:////no/such/folder/x.db", "Cannot open --storage sqlite:////no/such/folder/x.db: .*unable to open"),
        ("/no/such/folder/journal.log", "the folder /no/such/folder does not exist"),
    ],
)
def test_unusable_storage(studies, capsys, storage, message):
    assert tune_main(["digits.cfg_baseline", "--trials", "1", "--storage", storage]) == 2
    line = one_paragraph(capsys.readouterr().err)
    assert pytest.importorskip("re").search(message, line), line
    assert "secret" not in line
    assert not Path("/no/such/folder").exists()


def test_gpus_this_machine_lacks(studies, capsys):
    available = torch.cuda.device_count()
    assert tune_main(["digits.cfg_baseline", "--trials", "1", "--gpus", str(available)]) == 2
    assert f"--gpus {available} names device(s) {available} this machine does not have" in one_paragraph(capsys.readouterr().err)


def test_a_study_resumed_with_the_other_direction(studies, capsys):
    assert tune_main(["digits.cfg_baseline", "--study", "dir", "--report"]) == 0  # creates it: minimize log loss
    capsys.readouterr()
    assert tune_main(["digits.cfg_baseline", "--study", "dir", "--report", "--val_metric", "acc", "--val_track", "max"]) == 2
    assert "was created to minimize its value" in one_paragraph(capsys.readouterr().err)


def test_a_corrupt_journal_names_the_line(studies, capsys):
    assert tune_main(["digits.cfg_baseline", "--study", "bad", "--report"]) == 0
    capsys.readouterr()
    journal = studies / "studies" / "bad" / "journal.log"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:1] + ["{not json\n"] + lines[1:]))
    assert tune_main(["digits.cfg_baseline", "--study", "bad", "--report"]) == 2
    assert "is corrupt at line 2" in one_paragraph(capsys.readouterr().err)


def test_a_study_keeps_its_search_space():
    study = optuna.create_study(study_name="space")
    check_same_space(study, {"lr": Float(1e-4, 1e-2, log=True)})
    check_same_space(study, {"lr": Float(1e-4, 1e-2, log=True)})  # the same space resumes
    with pytest.raises(SkpError, match=r"lr: Float\(low=0.0001, high=0.01.* -> Float\(low=0.001"):
        check_same_space(study, {"lr": Float(1e-3, 1e-2, log=True)})


def test_a_checkpoint_that_is_not_a_state_dict(tmp_path):
    text = tmp_path / "best.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(SkpError, match="is not a checkpoint skp can read"):
        load_weights(text, "validated")
    torch.save({"weights": torch.zeros(2)}, text)
    with pytest.raises(SkpError, match=r"holds no state_dict \(keys: \['weights'\]\)"):
        load_weights(text, "validated")


def test_a_full_disk_while_writing_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SKP_SAVE_DIR", str(tmp_path / "runs"))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "runs"))

    monkeypatch.setattr(Path, "mkdir", full)
    assert train_main(["digits.cfg_baseline", "--num_epochs", "1"]) == 2
    assert "No space left on device. Free space or point --save_dir" in one_paragraph(capsys.readouterr().err)


def test_an_unknown_epoch_selection(tmp_path, capsys):
    assert train_main(["digits.cfg_baseline", "--save_dir", str(tmp_path), "--select_epoch", "worst"]) == 2
    assert "cfg.select_epoch must be 'best' (the epoch with the best val_metric) or 'last'" in one_paragraph(capsys.readouterr().err)
    assert not (tmp_path / "digits").exists()  # refused before any run folder


@pytest.mark.parametrize(
    "override, message",
    [
        (["--batch_size", "-4"], "cfg.batch_size must be a whole number of at least 1, got -4"),
        (["--num_epochs", "0"], "cfg.num_epochs must be a whole number of at least 1, got 0"),
        (["--image_height", "0"], "cfg.image_height must be a whole number of at least 1, got 0"),
        (["--num_workers", "-1"], "cfg.num_workers must be a whole number of at least 0, got -1"),
        (["--optimizer_params.lr", "-0.1"], "cfg.optimizer_params['lr'] must be a positive number, got -0.1"),
        (["--dropout", "1.5"], "cfg.dropout must be a probability from 0 up to (not including) 1, got 1.5"),
        (["--precision", "17"], "Lightning refuses the Trainer flags {'accelerator': 'auto', 'precision': '17'}: Precision '17' is invalid"),
    ],
)
def test_sizes_and_counts_are_checked_where_the_config_is_resolved(studies, capsys, monkeypatch, override, message):
    monkeypatch.setenv("SKP_SAVE_DIR", str(studies / "experiments"))
    assert train_main(["digits.cfg_baseline", *override]) == 2
    assert message in one_paragraph(capsys.readouterr().err)
    assert not list((studies / "experiments").glob("**/done.json"))  # nothing trained


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--workers", "0", "--workers must be at least 1, got 0"),
        ("--trials-per-gpu", "0", "--trials-per-gpu must be at least 1, got 0"),
        ("--max-failures", "0", "--max-failures must be at least 1, got 0"),
        ("--timeout", "-5", "--timeout takes a number of seconds above 0, got -5.0"),
        ("--stale-after", "0", "--stale-after takes a number of seconds above 0, got 0.0"),
        ("--folds", "9", "--folds: folds [9] are not in train.csv, whose folds are [0, 1, 2, 3, 4]"),
    ],
)
def test_skp_tune_flags_out_of_range(studies, capsys, monkeypatch, flag, value, message):
    monkeypatch.setenv("SKP_SAVE_DIR", str(studies / "experiments"))
    assert tune_main(["digits.cfg_baseline", "--trials", "1", flag, value]) == 2
    assert message in one_paragraph(capsys.readouterr().err)
    assert not list((studies / "experiments").glob("**/fold0"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU machine has a gpu backend")
def test_a_gpu_accelerator_on_a_machine_without_one(studies, capsys, monkeypatch):
    monkeypatch.setenv("SKP_SAVE_DIR", str(studies / "experiments"))
    assert train_main(["digits.cfg_baseline", "--accelerator", "gpu"]) == 2
    assert "Lightning refuses the Trainer flags {'accelerator': 'gpu'}: No supported gpu backend found!" in one_paragraph(capsys.readouterr().err)


def test_a_negative_gradient_clip_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_:
        train_main(["digits.cfg_baseline", "--gradient_clip_val", "-1"])
    assert exit_.value.code == 2 and "argument --gradient_clip_val: must be 0 or more" in capsys.readouterr().err


@pytest.mark.parametrize("step", [["--confirm", "2"], ["--promote", "2"]])
def test_a_misspelt_study_is_refused_not_searched(studies, capsys, monkeypatch, step):
    monkeypatch.setenv("SKP_SAVE_DIR", str(studies / "experiments"))
    assert tune_main(["digits.cfg_baseline", "--study", "dir", "--report"]) == 0  # an existing study
    capsys.readouterr()
    assert tune_main(["digits.cfg_baseline", "--study", "drr", *step]) == 2
    line = one_paragraph(capsys.readouterr().err)
    assert "Study 'drr' has no complete trial" in line and "(dir)" in line and "--trials N" in line
    assert not list((studies / "experiments").glob("**/fold0"))  # no trial trained


@pytest.mark.slow
def test_a_damaged_resume_checkpoint_trains_that_fold_again_and_says_so(studies, capsys, monkeypatch):
    monkeypatch.setenv("SKP_SAVE_DIR", str(studies / "experiments"))
    argv = ["digits.cfg_baseline", "--num_epochs", "1", "--limit_train_batches", "2", "--run_id", "damaged"]
    assert train_main(argv) == 0
    fold = next((studies / "experiments").glob("**/damaged/fold0"))
    first = (fold / "oof.csv").read_bytes()
    (fold / "done.json").unlink()  # as if killed before the fold finished...
    (fold / "resume.ckpt").write_bytes(b"PK\x03\x04 half a checkpoint")  # ...in the middle of writing its checkpoint
    capsys.readouterr()
    assert train_main(argv) == 0
    assert "resume.ckpt is damaged (truncated or corrupt); fold 0 trains again from the start" in capsys.readouterr().err
    assert (fold / "done.json").is_file() and (fold / "oof.csv").read_bytes() == first  # the same seed, the same fold


def test_every_reader_of_a_corrupt_journal_names_the_line(studies, capsys, tmp_path):
    from skp.ensemble.cli import main as ensemble_main

    assert tune_main(["digits.cfg_baseline", "--study", "bad2", "--report"]) == 0
    capsys.readouterr()
    journal = studies / "studies" / "bad2" / "journal.log"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:1] + ["{not json\n"] + lines[1:]))
    assert ensemble_main(["--study", "bad2:2", "--output", str(tmp_path / "out")]) == 2
    assert "is corrupt at line 2" in one_paragraph(capsys.readouterr().err)
    assert tune_main(["digits.cfg_baseline", "--study", "bad2", "--dashboard", "--port", "1"]) == 2
    assert "is corrupt at line 2" in one_paragraph(capsys.readouterr().err)


@pytest.mark.slow
def test_a_full_disk_mid_trial_fails_that_trial_with_the_reason_and_the_study_goes_on(studies, capsys, monkeypatch):
    import skp.tune.trial as trial_module

    real_fit_fold, calls = trial_module.fit_fold, []

    def disk_full_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second trial, mid-way: its checkpoint write finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device", "experiments/x/fold0/last.pt")
        return real_fit_fold(*args, **kwargs)

    monkeypatch.setattr(trial_module, "fit_fold", disk_full_once)
    argv = ["digits.cfg_baseline", "--study", "full", "--trials", "2", "--num_epochs", "1", "--limit_train_batches", "2", "--pruner", "none", "--no-export"]
    assert tune_main(argv) == 0
    out = capsys.readouterr().out
    from tests.tune import load_study

    trials = load_study("full").trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert "No space left on device" in trials[1].user_attrs["fail_reason"] and "Free space" in trials[1].user_attrs["fail_reason"]
    assert "skp-tune: trial 1 fail" in out and "No space left on device" in out


def test_every_command_ends_the_same_way(capsys):
    from skp.errors import exit_status

    def raising(error):
        def body():
            raise error
        return body

    assert exit_status("skp-x", lambda: None) == 0
    assert exit_status("skp-x", raising(SkpError("bad input. Do this."))) == 2
    assert capsys.readouterr().err == "skp-x: error: bad input. Do this.\n"
    full = OSError(errno.ENOSPC, "No space left on device", "/runs/oof.csv")
    assert exit_status("skp-ensemble", raising(full)) == 2
    assert capsys.readouterr().err.startswith("skp-ensemble: error: cannot write /runs/oof.csv: No space left on device. Free space")
    assert exit_status("skp-x", raising(KeyboardInterrupt()), "go on like this.") == 130
    assert capsys.readouterr().err == "skp-x: interrupted; go on like this.\n"
    assert exit_status("skp-x", raising(SystemExit(1))) == 130  # Lightning's end of a fit stopped by Ctrl-C
    for bug in (OSError(errno.EBADF, "Bad file descriptor"), SystemExit(0), ValueError("a bug")):
        with pytest.raises(type(bug)):
            exit_status("skp-x", raising(bug))
