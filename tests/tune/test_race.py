"""Fold racing in promotion: losing candidates stop, the winner and the baseline finish."""

from pathlib import Path

import numpy as np
import optuna
import pytest

from tests.tune import load_study
from skp.errors import SkpError
from skp.tune import race
from skp.tune.cli import main as tune_main
from skp.tune.promote import promoted_numbers, promotion, race_summary
from skp.tune.study import make_storage

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

ROWS = 200  # per fold


class FakeStudy:
    def get_trials(self, deepcopy=False):
        return list(range(10))


def values_per_trial(monkeypatch, per_trial: dict):
    """Make race read these per-row losses (two counted folds of ROWS rows each)."""
    row_folds = np.repeat([1, 2], ROWS)
    monkeypatch.setattr(race, "_row_values", lambda trials, folds: ([per_trial[t] for t in trials], row_folds))


def losses(rng, fold_means):
    return np.concatenate([rng.normal(m, 0.3, ROWS) for m in fold_means]).clip(0)


def record(trials, keep, folds=(0, 1, 2, 3), baseline=None):
    return {"trials": list(trials), "folds": list(folds), "baseline": baseline, "race": race.race_record(keep)}


def test_a_candidate_stops_once_k_others_beat_it_on_every_fold(monkeypatch):
    rng = np.random.default_rng(0)
    values_per_trial(monkeypatch, {
        1: losses(rng, [0.50, 0.50]),  # the best
        2: losses(rng, [0.55, 0.56]),  # beaten by 1 only
        3: losses(rng, [0.80, 0.85]),  # beaten by 1 and 2
        4: losses(rng, [0.40, 0.90]),  # best on fold 1, worst on fold 2: not beaten on every fold
    })
    stops = race.decide(FakeStudy(), record([1, 2, 3, 4], keep=2), [0, 1, 2], search_folds={0})
    assert set(stops) == {3}
    assert stops[3][1] == [1, 2] and stops[3][0] < race.ALPHA
    stops = race.decide(FakeStudy(), record([1, 2, 3, 4], keep=1), [0, 1, 2], search_folds={0})
    assert set(stops) == {2, 3}


def test_no_decision_too_early_on_the_last_round_or_below_k(monkeypatch):
    rng = np.random.default_rng(1)
    values_per_trial(monkeypatch, {1: losses(rng, [0.5, 0.5]), 2: losses(rng, [0.7, 0.7]), 3: losses(rng, [0.9, 0.95])})
    study = FakeStudy()
    assert race.decide(study, record([1, 2, 3], keep=1), [0, 1], search_folds={0}) == {}  # one counted fold
    assert race.decide(study, record([1, 2, 3], keep=1, folds=(0, 1, 2)), [0, 1, 2], search_folds={0}) == {}  # last round
    assert race.decide(study, record([1, 2], keep=2), [0, 1, 2], search_folds={0}) == {}  # already only K
    assert set(race.decide(study, record([1, 2, 3], keep=1), [0, 1, 2], search_folds={0})) == {2, 3}
    assert set(race.decide(study, record([1, 2, 3], keep=2), [0, 1, 2], search_folds={0})) == {3}
    # the baseline is the reference: never stopped, never counted among the K
    assert set(race.decide(study, record([1, 2, 3], keep=1, baseline=2), [0, 1, 2], search_folds={0})) == {3}


def test_candidates_equal_up_to_noise_never_stop(monkeypatch):
    rng = np.random.default_rng(2)
    same = rng.gamma(2.0, 0.2, 2 * ROWS)
    jitter = same * np.exp(rng.normal(0, 0.01, same.shape))  # another run's rounding: no side wins
    values_per_trial(monkeypatch, {1: same, 2: same.copy(), 3: jitter})
    assert race.decide(FakeStudy(), record([1, 2, 3], keep=1), [0, 1, 2], search_folds={0}) == {}


@pytest.mark.parametrize("flags, message", [
    (["--race", "3"], "give --promote K"),
    (["--promote", "3", "--race", "2"], "N >= K"),
    (["--promote", "1", "--race", "2", "--promote-by", "ensemble"], "would stop the complements"),
])
def test_race_flags_are_checked(flags, message, capsys):
    assert tune_main(["digits.cfg_baseline", "--trials", "1", *flags]) == 2
    assert message in capsys.readouterr().err


TINY = ["--num_epochs", "1", "--limit_train_batches", "10", "--enable_progress_bar", "False", "--pruner", "none",
        "--no-export", "--scheduler_params.warmup", "0"]


@pytest.mark.slow
def test_a_raced_promotion_stops_the_losers_and_finishes_the_winner(tmp_path):
    name = "race-digits"
    study = optuna.create_study(study_name=name, storage=make_storage(None, name), direction="minimize")
    for lr in (1e-2, 8e-3, 1e-3, 1.1e-3):  # one epoch of ten batches: the two large rates lose badly
        study.enqueue_trial({"num_epochs": 10, "optimizer_params.lr": lr, "optimizer_params.weight_decay": 1e-2})
    argv = ["digits.cfg_baseline", "--study", name, "--trials", "5", *TINY, "--promote", "1", "--race", "4", "--promote-folds", "0,1,2,3"]
    assert tune_main(argv) == 0
    study = load_study(name)
    record = promotion(study)
    stopped = race.stopped(record)
    assert stopped and len(promoted_numbers(record)) >= 1 + (record["baseline"] is not None)
    trials = study.get_trials(deepcopy=False)
    for number in record["trials"]:
        run_dir = Path(trials[number].user_attrs["run_dir"])
        finished = {f for f in record["folds"] if (run_dir / f"fold{f}" / "done.json").exists()}
        assert finished == ({0, 1, 2} if number in stopped else {0, 1, 2, 3})  # stopped after the second counted round
    assert any("not trained" in line for line in race_summary(study))
    before = {str(p): p.stat().st_mtime_ns for p in Path(trials[0].user_attrs["run_dir"]).parent.rglob("done.json")}
    assert tune_main(argv) == 0  # the same command again: the same stops, nothing retrained
    again = load_study(name)
    assert race.stopped(promotion(again)) == stopped
    assert {str(p): p.stat().st_mtime_ns for p in Path(trials[0].user_attrs["run_dir"]).parent.rglob("done.json")} == before
    from skp.ensemble.members import ranked_trials

    complete = [t for t in again.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    assert not {t.number for t in ranked_trials(again, complete)} & stopped  # a blend takes only the survivors


def test_a_metric_that_is_no_mean_over_rows_cannot_race(monkeypatch):
    class Scorer:
        metric, name = "classification.AUROC", "auc"

    monkeypatch.setattr("skp.tune.oofs.trial_oofs", lambda trials, folds: (None, Scorer(), None))
    with pytest.raises(SkpError, match="auc .* is not a mean over rows"):
        race.check_raceable(None, [type("T", (), {"user_attrs": {}})()], [0])
