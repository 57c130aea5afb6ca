"""Warm start: an earlier study's best parameter sets queued, its trials observed by the sampler."""

import math

import optuna
import pytest

from tests.tune import load_study
from skp.configs import load_config
from skp.errors import SkpError
from skp.tune.space import Categorical, Float, Int, validate_space
from skp.tune.study import SPACE_ATTR, make_storage
from skp.tune.warm_start import FROM, RECORD, ObservingSampler, parse, project, warm_start, with_observations

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_parse_and_projection_onto_a_new_space():
    assert parse("fashion-subset") == ("fashion-subset", 5) and parse("old:3") == ("old", 3)
    for bad in ("old:0", "old:x"):
        with pytest.raises(SkpError, match="STUDY:K"):
            parse(bad)
    space = {"lr": Float(1e-4, 1e-2, log=True), "epochs": Int(10, 40, step=10), "arch": Categorical(["a", "b"])}
    assert project({"lr": 1e-3, "epochs": 20, "arch": "b"}, space) == ({"lr": 1e-3, "epochs": 20, "arch": "b"}, [])
    fitted, notes = project({"lr": 1e-3, "dropout": 0.2}, space)  # a parameter this space lacks is dropped
    assert fitted == {"lr": 1e-3} and "dropout dropped" in notes[0]
    for outside in ({"lr": 0.1}, {"epochs": 25}, {"epochs": 50}, {"arch": "c"}):
        assert project(outside, space)[0] is None


def digits_space():
    return validate_space(load_config("digits.cfg_baseline"))


def source_study(name, space, values):
    """A finished study without training: trials with the given params and values."""
    study = optuna.create_study(study_name=name, storage=make_storage(None, name), direction="minimize")
    study.set_user_attr(SPACE_ATTR, {key: repr(param) for key, param in space.items()})
    distributions = {
        "num_epochs": optuna.distributions.IntDistribution(10, 40, step=10),
        "optimizer_params.lr": optuna.distributions.FloatDistribution(1e-3, 1e-2, log=True),
        "optimizer_params.weight_decay": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True),
    }
    for params, value in values:
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=value))
    return study


def params(epochs, lr, wd=1e-2):
    return {"num_epochs": epochs, "optimizer_params.lr": lr, "optimizer_params.weight_decay": wd}


def test_the_best_sets_that_fit_are_queued_once(capsys):
    space = digits_space()
    source_study("ws-source", space, [(params(10, 2e-3), 0.5), (params(40, 5e-3), 0.1), (params(20, 8e-3), 0.2), (params(30, 1e-3), 0.9)])
    narrower = dict(space, num_epochs=Int(10, 30, step=10))  # the new study searches at most 30 epochs
    study = optuna.create_study(study_name="ws-new", storage=make_storage(None, "ws-new"), direction="minimize")
    warm_start(study, "ws-source", 3, None, narrower)
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert [t.system_attrs["fixed_params"] for t in waiting] == [params(20, 8e-3), params(10, 2e-3)]  # best first; 40 epochs does not fit
    assert [t.user_attrs[FROM] for t in waiting] == ["ws-source:2", "ws-source:0"]
    record = study.user_attrs[RECORD]
    assert record["skipped"] == ["trial 1: num_epochs = 40 lies outside Int(low=10, high=30, log=False, step=10, when={})"]
    assert record["observations"] is False  # another space: observations would mislead the sampler
    assert with_observations(study, "sampler") == "sampler"
    warm_start(study, "ws-source", 3, None, narrower)
    assert len(study.get_trials()) == 2 and "nothing queued again" in capsys.readouterr().out


def test_refused_sources():
    space = digits_space()
    study = optuna.create_study(study_name="ws-max", storage=make_storage(None, "ws-max"), direction="maximize")
    source_study("ws-min", space, [(params(10, 2e-3), 0.5)])
    with pytest.raises(SkpError, match="minimizes its value and this one maximizes"):
        warm_start(study, "ws-min", 3, None, space)
    with pytest.raises(SkpError, match="no study 'ws-missing'.*ws-min"):
        warm_start(study, "ws-missing", 3, None, space)


def first_proposals(study_name, sampler_of, seeds):
    lrs = []
    for seed in seeds:
        name = f"{study_name}-{seed}"
        study = optuna.create_study(study_name=name, storage=make_storage(None, name), direction="minimize")
        if sampler_of is not None:
            study.set_user_attr(RECORD, {"study": "ws-observed", "storage": None, "observations": True})
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)
        study.sampler = with_observations(study, sampler) if sampler_of is not None else sampler
        trial = study.ask()
        lrs.append(Float(1e-3, 1e-2, log=True).suggest(trial, "optimizer_params.lr"))
        assert len(study.trials) == 1  # the observations are no trials of the study
    return lrs


def test_observations_steer_the_first_proposals_of_the_same_space():
    space = digits_space()
    # 30 finished trials there: the value falls with the learning rate
    observed = [(params(10, lr), 1.0 - math.log10(lr / 1e-3)) for lr in [1e-3 * 10 ** (i / 29) for i in range(30)]]
    source_study("ws-observed", space, observed)
    warm = first_proposals("ws-warm", True, range(10))
    cold = first_proposals("ws-cold", None, range(10))
    assert sum(lr > 5e-3 for lr in warm) >= 9  # TPE models the 30 observations at once
    assert sum(lr > 5e-3 for lr in cold) <= 6  # without them: its random start-up
    study = load_study("ws-warm-0")
    assert isinstance(with_observations(study, optuna.samplers.RandomSampler()), ObservingSampler)


@pytest.mark.slow
def test_a_study_warm_started_from_the_command_line(capsys):
    from skp.tune.cli import main as tune_main

    space = digits_space()
    source_study("ws-cli-source", space, [(params(10, 2e-3), 0.5), (params(20, 8e-3), 0.2)])
    tiny = ["--num_epochs", "1", "--limit_train_batches", "2", "--enable_progress_bar", "False", "--pruner", "none", "--no-export"]
    assert tune_main(["digits.cfg_baseline", "--study", "ws-cli", "--trials", "3", *tiny, "--warm-start", "ws-cli-source:2"]) == 0
    study = load_study("ws-cli")
    origins = [t.user_attrs.get(FROM) for t in study.trials if t.state.name == "COMPLETE"]
    assert sorted(filter(None, origins)) == ["ws-cli-source:0", "ws-cli-source:1"]
    assert "warm start from ws-cli-source" in capsys.readouterr().out
