"""What a person reads: one line per trial and per epoch, library chatter in the fold logs."""

import os
import subprocess
import sys
import time

import optuna
import pytest

from skp.tune.progress import trial_line

NOISE = ("Warning", "Tip", "FLOPs", "LeafSpec", "GPU available")
TINY = ["--num_epochs", "1", "--limit_train_batches", "2", "--pruner", "none", "--no-export"]


def _study_with(states):
    study = optuna.create_study(direction="minimize")
    with pytest.warns(optuna.exceptions.ExperimentalWarning):
        study.set_metric_names(["logloss"])
    for i, state in enumerate(states):
        trial = study.ask({"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)})
        if state == "complete":
            study.tell(trial, 0.5 - 0.1 * i)
        elif state == "pruned":
            trial.report(0.9, 2)
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif state == "fail":
            trial.set_user_attr("fail_reason", "val/logloss was never finite in fold 0")
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return study


def test_a_trial_line_names_its_value_the_best_so_far_and_what_is_left():
    study = _study_with(["complete", "complete", "pruned", "fail", "running"])
    trials = study.get_trials()
    complete = trial_line(study, trials[1], 10, time.time() - 75, "logloss")
    assert complete.startswith("skp-tune: trial 1 complete  logloss 0.4000  best 0.4000 (trial 1)")
    assert "lr=" in complete and "3/10 finished, 1 running, 1:15 elapsed" in complete and "left" in complete
    assert "pruned at epoch 3" in trial_line(study, trials[2], 10, time.time(), "logloss")
    assert "val/logloss was never finite in fold 0" in trial_line(study, trials[3], 10, time.time(), "logloss")
    assert "left" not in trial_line(study, trials[1], 3, time.time(), "logloss")  # 3 of 3 finished


def _run(args, cwd, out_path):
    with open(out_path, "w") as out:
        return _run_on(args, cwd, out)


def _run_on(args, cwd, out):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "SKP_DATA_DIR": str(cwd / "data"),
           "SKP_SAVE_DIR": str(cwd / "experiments"), "SKP_STUDIES_DIR": str(cwd / "studies")}
    env.pop("SKP_VERBOSE", None)
    return subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)


@pytest.mark.slow
def test_a_study_sent_to_a_file_prints_each_trial_as_it_ends_and_nothing_else(tmp_path):
    log = tmp_path / "study.log"
    process = _run(["skp.tune.cli", "digits.cfg_baseline", "--study", "console", "--trials", "3", *TINY], tmp_path, log)
    first_line_while_running = False
    while process.poll() is None:
        if "skp-tune: trial 0 (baseline) complete" in log.read_text():
            first_line_while_running = process.poll() is None
            break
        time.sleep(0.2)
    assert process.wait(timeout=900) == 0, log.read_text()[-3000:]
    output = log.read_text()
    assert first_line_while_running, "the first trial's line was held back until the end"
    lines = [line for line in output.splitlines() if line.startswith("skp-tune: trial ")]
    assert [line.split()[2] for line in lines] == ["0", "1", "2"] and all(" complete  logloss " in line for line in lines)
    assert "3/3 finished" in lines[-1]
    assert not [word for word in NOISE if word in output], output
    for fold_log in sorted(tmp_path.glob("experiments/digits/cfg_baseline/console-trial*/fold0/console.log")):
        kept = fold_log.read_text()
        assert "Tip" in kept and "GPU available" in kept and "model summary" in kept
    assert len(list(tmp_path.glob("experiments/digits/cfg_baseline/console-trial*/fold0/console.log"))) == 3


@pytest.mark.slow
def test_verbose_shows_the_libraries_again(tmp_path):
    log = tmp_path / "study.log"
    process = _run(["skp.tune.cli", "digits.cfg_baseline", "--study", "loud", "--trials", "1", "--verbose", *TINY], tmp_path, log)
    assert process.wait(timeout=900) == 0, log.read_text()[-3000:]
    output = log.read_text()
    assert "GPU available" in output and "FLOPs" in output and "skp-tune: trial 0 (baseline) complete" in output


@pytest.mark.slow
def test_skp_train_into_a_file_prints_a_line_per_epoch(tmp_path):
    log = tmp_path / "train.log"
    process = _run(["skp.train", "digits.cfg_baseline", "--num_epochs", "2", "--limit_train_batches", "2"], tmp_path, log)
    assert process.wait(timeout=900) == 0, log.read_text()[-3000:]
    output = log.read_text()
    epochs = [line for line in output.splitlines() if line.startswith("skp-train: fold 0 epoch ")]
    assert [line.split()[4] for line in epochs] == ["1/2", "2/2"] and all("val/logloss" in line for line in epochs)
    assert "it/s" not in output and "Epoch 0" not in output  # no progress bar drawn into a file
    assert not [word for word in NOISE if word in output], output
    assert len(list(tmp_path.glob("experiments/digits/cfg_baseline/*/fold0/console.log"))) == 1


@pytest.mark.slow
def test_a_study_on_a_terminal_shows_the_same_lines_without_library_noise(tmp_path):
    import pty

    main, child = pty.openpty()
    process = _run_on(["skp.tune.cli", "digits.cfg_baseline", "--study", "tty", "--trials", "2", *TINY], tmp_path, child)
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # EIO: the child side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert process.wait(timeout=900) == 0
    output = b"".join(chunks).decode("utf-8", "replace")
    assert "skp-tune: trial 0 (baseline) complete" in output and "skp-tune: trial 1 complete" in output
    assert not [word for word in NOISE if word in output], output
