import optuna
import pytest

from skp.errors import SkpError
from skp.tune.space import Categorical, Float, Int
from skp.tune.study import PRUNERS, SAMPLERS, make_pruner, make_sampler, make_storage

SPACE = {"batch_size": Int(16, 32, step=16), "mixup": Categorical([0.0, 0.2])}


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_builds_and_samples(name):
    study = optuna.create_study(sampler=make_sampler(name, 0, SPACE))
    trial = study.ask()
    assert trial.suggest_int("batch_size", 16, 32, step=16) in (16, 32)
    study.tell(trial, 1.0)


@pytest.mark.parametrize("name", PRUNERS)
def test_every_pruner_builds(name):
    assert isinstance(make_pruner(name), optuna.pruners.BasePruner)


def test_grid_refuses_continuous_parameters():
    with pytest.raises(SkpError, match="grid needs Categorical"):
        make_sampler("grid", 0, {"lr": Float(1e-4, 1e-2)})


def test_default_storage_is_a_journal_file_under_studies(tmp_path, monkeypatch):
    monkeypatch.setenv("SKP_STUDIES_DIR", str(tmp_path))
    storage = make_storage(None, "digits.cfg_baseline")
    optuna.create_study(study_name="digits.cfg_baseline", storage=storage)
    assert (tmp_path / "digits.cfg_baseline" / "journal.log").stat().st_size > 0
