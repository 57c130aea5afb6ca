"""--promote-seeds: the kept promoted trials trained again on every fold at other seeds, in
the seed check's run directories, then blended as Study(..., seeds=True) members."""

import json
from pathlib import Path

import optuna
import pytest

from tests.tune import load_study
from skp.ensemble import Study
from skp.ensemble.members import study_seed_copies
from skp.errors import SkpError
from skp.tune import race
from skp.tune.cli import main as tune_main
from skp.tune.promote import cv_records, jobs_of, missing_jobs, promotion

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
FOLDS = [0, 1, 2]
TINY = ["--num_epochs", "1", "--limit_train_batches", "2", "--enable_progress_bar", "False", "--pruner", "none", "--no-export"]


def _study(tmp_path, record: dict, seed: int = 42):
    """Trials 0 (the baseline), 1 and 2 with run directories seeded `seed`, and `record` as the promotion."""
    study = optuna.create_study(direction="minimize")
    for number in range(3):
        run_dir = tmp_path / f"trial{number}"
        run_dir.mkdir()
        (run_dir / "run.json").write_text(json.dumps({"provenance": {"seed": seed}}))
        attrs = {"run_dir": str(run_dir), "run_id": f"trial{number}", "overrides": []}
        if number == 0:
            attrs["baseline"] = True
        study.add_trial(optuna.trial.create_trial(value=0.1 * (3 - number), user_attrs=attrs))
    study.set_user_attr("promotion", record)
    return study


def _finish(jobs):
    for job in jobs:
        job.fold_dir.mkdir(parents=True, exist_ok=True)
        (job.fold_dir / "done.json").write_text("{}")


def test_seed_copies_are_jobs_of_the_kept_trials_in_the_seed_checks_run_directories(tmp_path):
    study = _study(tmp_path, {"by": "value", "folds": FOLDS, "trials": [2, 1], "baseline": 0, "seeds": 2})
    copies = [job for job in jobs_of(study) if job.seed is not None]
    assert {(job.trial, job.seed) for job in copies} == {(2, 43), (2, 44), (1, 43), (1, 44)}  # the baseline has none
    assert all(job.run_dir == tmp_path / f"trial{job.trial}-seed{job.seed}" for job in copies)
    assert sorted(job.fold for job in copies if (job.trial, job.seed) == (2, 43)) == FOLDS
    assert len(missing_jobs(study)) == 3 * 3 + 4 * 3  # no race: every missing fold at once


def test_in_a_race_the_copies_wait_for_the_last_round_and_a_stopped_trial_gets_none(tmp_path):
    record = {"by": "value", "folds": FOLDS, "trials": [2, 1], "baseline": 0, "seeds": 1, "race": race.race_record(1)}
    study = _study(tmp_path, record)
    for fold in FOLDS:
        assert {job.fold for job in missing_jobs(study)} == {fold} and all(job.seed is None for job in missing_jobs(study))
        _finish(missing_jobs(study))
    assert {(job.trial, job.seed) for job in missing_jobs(study)} == {(2, 43), (1, 43)}
    record["race"]["stopped"] = {"1": {"after": [0, 1], "p": 0.001, "behind": [2]}}
    study.set_user_attr("promotion", record)
    assert {(job.trial, job.seed) for job in missing_jobs(study)} == {(2, 43)}


def test_a_study_member_asks_for_copies_promotion_did_not_train(tmp_path):
    study = _study(tmp_path, {"by": "value", "folds": FOLDS, "trials": [2], "baseline": 0, "seeds": 1})
    trials = study.get_trials(deepcopy=False)
    spec = Study("s", top_k=2, seeds=True)
    with pytest.raises(SkpError, match="no seed copies of trial 1"):
        study_seed_copies(study, spec, trials[1])  # not promoted
    with pytest.raises(SkpError, match=r"folds missing \(seeds \[43\]\)"):
        study_seed_copies(study, spec, trials[2])
    _finish([job for job in jobs_of(study) if job.seed is not None])
    assert study_seed_copies(study, spec, trials[2]) == {43: tmp_path / "trial2-seed43"}
    assert study_seed_copies(study, spec, trials[0]) == {}  # the baseline has none
    assert study_seed_copies(study, Study("s", top_k=2), trials[2]) == {}


@pytest.mark.parametrize("flags, message", [
    (["--promote-seeds", "2"], "give --promote K"),
    (["--promote", "1", "--promote-seeds", "-1"], "S >= 1"),
])
def test_promote_seeds_flags_are_checked(flags, message, capsys):
    assert tune_main(["digits.cfg_baseline", "--study", "pytest_seeds_flags", *flags]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_seed_copies_continue_the_seed_check_and_join_the_blend(tmp_path):
    from skp.ensemble.cli import main as ensemble_main

    name = "pytest_promote_seeds"
    assert tune_main(["digits.cfg_baseline", "--study", name, "--trials", "2", *TINY, "--confirm", "1", "--confirm-seeds", "1"]) == 0
    study = load_study(name)
    copies = {t.number: Path(t.user_attrs["run_dir"]).parent / f"{t.user_attrs['run_id']}-seed43" for t in study.trials}
    checked = {n: (c / "fold0" / "done.json").stat().st_mtime_ns for n, c in copies.items() if c.exists()}  # the seed check's fold 0

    assert tune_main(["digits.cfg_baseline", "--study", name, "--promote", "1", "--promote-seeds", "1", "--promote-folds", "0,1,2"]) == 0
    study = load_study(name)
    record = promotion(study)
    best = record["trials"][0]
    assert record["seeds"] == 1
    assert (copies[best] / "fold0" / "done.json").stat().st_mtime_ns == checked[best]  # continued, not trained again
    assert all((copies[best] / f"fold{f}" / "done.json").is_file() for f in FOLDS)
    row = cv_records(study)[best]
    assert list(row["seeds"]) == ["42", "43"] and row["seeds_oof"] is not None
    other = 1 - best  # two trials: the baseline (0) and trial 1
    assert not (copies[other] / "fold1").exists()  # not promoted: its copy keeps the seed check's fold 0 only

    output = tmp_path / "ensemble"
    assert ensemble_main(["--study", f"{name}:1+seeds+baseline", "--folds", "0,1,2", "--output", str(output)]) == 0
    members = [m["name"] for m in json.loads((output / "weights.json").read_text())["members"]]
    expected = [f"{name}#{best}", f"{name}#{best}-seed43"] + ([f"{name}#0"] if best != 0 else [])
    assert members == expected
