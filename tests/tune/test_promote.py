"""Promotion: a study's best trials on every fold, resumable, shared by workers, blended."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from tests.tune import load_study
from skp.configs import load_config
from skp.ensemble.cli import main as ensemble_main
from skp.ensemble.members import ranked_trials
from skp.tune.cli import main as tune_main
from skp.training.runs import fold_claim
from skp.tune.promote import Job, best_by_cv, cv_records, cv_verdict, promoted_numbers, promotion, select_by_ensemble

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
# Full validation folds: promotion by ensemble and the blend compare every OOF row.
TINY = ["--num_epochs", "1", "--limit_train_batches", "2", "--enable_progress_bar", "False", "--pruner", "none", "--no-export"]
FOLDS = [0, 1, 2, 3, 4]


class MeanSquaredError:
    """A stand-in for the ensemble's Scorer: lower is better."""

    def __init__(self, target):
        self.target = target

    def __call__(self, pred):
        return float(((pred - self.target) ** 2).mean())

    def better(self, a, b):
        return a < b


def test_ensemble_selection_prefers_a_complement_to_a_near_copy():
    rng = np.random.default_rng(0)
    target = np.zeros((400, 1))
    best = target + rng.normal(0, 1.0, target.shape)
    near_copy = best + rng.normal(0, 0.05, target.shape)  # second best alone, same errors
    independent = target + rng.normal(0, 1.1, target.shape)  # worse alone, other errors
    scorer = MeanSquaredError(target)
    assert scorer(near_copy) < scorer(independent)
    assert select_by_ensemble([independent, best, near_copy], scorer, 2) == [1, 0]
    assert select_by_ensemble([independent, best, near_copy], scorer, 5) == [1, 0, 2]  # no repeats


def test_a_claimed_job_is_busy_for_others_and_free_once_its_holder_dies(tmp_path):
    job = Job(trial=3, fold=2, run_dir=tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import time, pathlib; from skp.training.runs import fold_claim\n"
        f"with fold_claim(pathlib.Path({str(tmp_path)!r}), 2) as mine:\n"
        "    print(mine, flush=True); time.sleep(60)"
    )], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "True"
    with fold_claim(job.run_dir, job.fold) as mine:
        assert not mine
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with fold_claim(job.run_dir, job.fold) as mine:
        assert mine


def _promoted_study(baseline_folds, tuned_folds):
    study = optuna.create_study(direction="minimize")
    study.set_user_attr("promotion", {"by": "value", "folds": FOLDS, "trials": [1], "baseline": 0})
    for number, values in ((0, baseline_folds), (1, tuned_folds)):
        study.set_user_attr(f"cv:{number}", {"folds": {str(f): v for f, v in zip(FOLDS, values)}, "mean": float(np.mean(values))})
    return study


def test_the_report_compares_promoted_trials_with_the_baseline_fold_by_fold():
    # fold difficulty varies a lot; the tuned trial is better on every fold
    study = _promoted_study([0.02, 0.05, 0.01, 0.08, 0.03], [0.015, 0.044, 0.006, 0.071, 0.026])
    assert best_by_cv(study) == 1
    assert cv_verdict(study).startswith("trial 1 beats the baseline (trial 0) on 5 of 5 folds")
    assert cv_verdict(study).endswith("beyond the noise")
    mixed = _promoted_study([0.02, 0.05, 0.01, 0.08, 0.03], [0.025, 0.040, 0.012, 0.070, 0.031])
    assert "on 2 of 5 folds" in cv_verdict(mixed) and "within the noise" in cv_verdict(mixed)
    worse = _promoted_study([0.02, 0.05, 0.01, 0.08, 0.03], [0.03, 0.06, 0.02, 0.09, 0.04])
    assert best_by_cv(worse) == 0 and "no better" in cv_verdict(worse)


def test_a_study_member_takes_the_promoted_trials_best_on_cross_validation_first():
    study = optuna.create_study(direction="minimize")
    for value in (0.03, 0.01, 0.02, 0.04):
        study.add_trial(optuna.trial.create_trial(value=value))
    complete = study.get_trials(deepcopy=False)
    assert [t.number for t in ranked_trials(study, complete)] == [1, 2, 0, 3]  # no promotion: study values
    # promoted by fold-0 value: 1, 2, 0; over five folds 0 is best and 2 has no CV yet
    study.set_user_attr("promotion", {"by": "value", "folds": FOLDS, "trials": [1, 2, 0], "baseline": None})
    study.set_user_attr("cv:0", {"mean": 0.010})
    study.set_user_attr("cv:1", {"mean": 0.020})
    assert [t.number for t in ranked_trials(study, complete)] == [0, 1, 2]
    study.set_user_attr("promotion", {"by": "ensemble", "folds": FOLDS, "trials": [1, 2, 0], "baseline": None})
    assert [t.number for t in ranked_trials(study, complete)] == [1, 2, 0]  # the greedy selection's order



def _done_files(study, numbers):
    trials = study.get_trials(deepcopy=False)
    return {(n, f): Path(trials[n].user_attrs["run_dir"]) / f"fold{f}" / "done.json" for n in numbers for f in FOLDS}


@pytest.mark.slow
def test_search_promote_and_blend_into_a_submission(tmp_path):
    name = "pytest_promote"
    assert tune_main(["digits.cfg_baseline", "--study", name, "--trials", "3", *TINY, "--promote", "2", "--promote-by", "ensemble"]) == 0
    study = load_study(name)
    record = promotion(study)
    assert record["by"] == "ensemble" and record["folds"] == FOLDS and len(record["trials"]) == 2
    assert record["baseline"] == 0  # the reference, promoted whether or not it is among the two
    assert all(path.is_file() for path in _done_files(study, [*record["trials"], 0]).values())
    cv = cv_records(study)
    assert sorted(cv) == sorted({*record["trials"], 0})
    for number, row in cv.items():
        values = [json.loads(p.read_text())["best_value"] for (n, _), p in _done_files(study, [number]).items()]
        assert row["mean"] == pytest.approx(np.mean(values)) and len(row["folds"]) == 5
        assert row["folds"]["0"] == pytest.approx(study.trials[number].value)  # fold 0 is the trial's own

    output = tmp_path / "ensemble"
    assert ensemble_main(["--study", f"{name}:2", "--output", str(output)]) == 0
    summary = json.loads((output / "weights.json").read_text())
    assert summary["folds"] == FOLDS
    assert [m["name"] for m in summary["members"]] == [f"{name}#{n}" for n in record["trials"]]
    cfg = load_config("digits.cfg_baseline")
    sample = pd.read_csv(Path(cfg.data_dir) / cfg.sample_submission_file)
    submission = pd.read_csv(output / "submission.csv")
    assert list(submission.columns) == list(sample.columns) and len(submission) == len(sample)


@pytest.mark.slow
def test_a_killed_promotion_resumes_and_trains_only_what_is_missing(tmp_path):
    name = "pytest_promote_kill"
    assert tune_main(["digits.cfg_baseline", "--study", name, "--trials", "2", *TINY, "--num_epochs", "3"]) == 0
    # two CPU workers share the folds; the whole command (driver and workers) is killed
    command = [sys.executable, "-m", "skp.tune.cli", "digits.cfg_baseline", "--study", name, "--promote", "2", "--workers", "2"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    log = tmp_path / "killed.log"  # a file: a pipe nobody reads would stall the workers once full
    with log.open("w") as out:
        first = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    done = {}
    try:
        for _ in range(2400):
            time.sleep(0.1)
            study = load_study(name)
            if promotion(study):
                done = _done_files(study, promotion(study)["trials"])
                if sum(p.is_file() for p in done.values()) >= 4:  # both trials' fold 0 (from the study) and two promoted folds
                    break
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    finished = {key: path.stat().st_mtime_ns for key, path in done.items() if path.is_file()}
    assert 4 <= len(finished) < 10, "the promotion was not killed mid-way:\n" + log.read_text()[-3000:]

    resumed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert all(path.is_file() for path in done.values())
    assert all(done[key].stat().st_mtime_ns == mtime for key, mtime in finished.items())  # not trained again
    output = resumed.stdout + resumed.stderr
    trained = [line for line in output.splitlines() if "promotion: training" in line or "promotion: resuming" in line]
    jobs = [line.split("trial ")[1].split(" in ")[0] for line in trained]
    assert len(jobs) == 10 - len(finished) and len(set(jobs)) == len(jobs), output[-6000:]  # each missing fold once
    assert sorted(cv_records(load_study(name))) == sorted(promoted_numbers(promotion(load_study(name))))
