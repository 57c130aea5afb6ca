import optuna
import pytest

from skp.errors import SkpError
from skp.tune.space import Categorical, Float, Int
from skp.tune.pruners import PRUNERS, PrunerSettings, make_pruner, resolve_pruner_settings
from skp.tune.study import SAMPLERS, make_sampler, make_storage

SPACE = {"batch_size": Int(16, 32, step=16), "mixup": Categorical([0.0, 0.2])}


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_builds_and_samples(name):
    study = optuna.create_study(sampler=make_sampler(name, 0, SPACE))
    trial = study.ask()
    assert trial.suggest_int("batch_size", 16, 32, step=16) in (16, 32)
    study.tell(trial, 1.0)


@pytest.mark.parametrize("name", PRUNERS)
def test_every_pruner_builds(name):
    assert isinstance(make_pruner(name, epochs=10), optuna.pruners.BasePruner)


@pytest.mark.parametrize("epochs, warmup", [(1, 1), (3, 1), (10, 3), (40, 12)])
def test_the_default_warmup_is_a_share_of_the_epochs(epochs, warmup):
    assert resolve_pruner_settings("median", PrunerSettings(), epochs)["warmup"] == warmup
    assert resolve_pruner_settings("asha", PrunerSettings(warmup=3), epochs)["warmup"] == 3  # given: kept


def first_pruned_step(pruner, startup_trials: int) -> int | None:
    """The first step at which a trial far worse than `startup_trials` finished ones is pruned."""
    study = optuna.create_study(pruner=pruner)
    for _ in range(startup_trials):
        trial = study.ask()
        for step in range(10):
            trial.report(0.1, step)
            assert not trial.should_prune()  # successive halving records its rungs here
        study.tell(trial, 0.1)
    trial = study.ask()
    for step in range(10):
        trial.report(10.0, step)
        if trial.should_prune():
            return step
    return None


@pytest.mark.parametrize("warmup", [1, 3])
def test_the_median_pruner_judges_a_trial_after_its_warmup_epochs(warmup):
    settings = PrunerSettings(warmup=warmup, startup=2)
    assert first_pruned_step(make_pruner("median", settings), startup_trials=2) == warmup
    assert first_pruned_step(make_pruner("median", settings), startup_trials=1) is None  # still in its startup


def test_successive_halving_takes_its_first_rung_after_the_warmup():
    assert first_pruned_step(make_pruner("asha", PrunerSettings(warmup=2, reduction=2)), startup_trials=3) == 2


@pytest.mark.parametrize(
    "name, settings, message",
    [
        ("asha", PrunerSettings(startup=3), "--pruner-startup does not apply to --pruner asha, which takes --pruner-warmup, --reduction-factor"),
        ("none", PrunerSettings(warmup=2), "--pruner-warmup does not apply to --pruner none, which takes no setting"),
        ("median", PrunerSettings(warmup=0), r"--pruner-warmup 0 \(at least 1\)"),
        ("hyperband", PrunerSettings(reduction=1), r"--reduction-factor 1 \(at least 2\)"),
    ],
)
def test_a_pruner_setting_that_cannot_apply_is_refused(name, settings, message):
    with pytest.raises(SkpError, match=message):
        make_pruner(name, settings)


def test_grid_refuses_continuous_parameters():
    with pytest.raises(SkpError, match="grid needs Categorical"):
        make_sampler("grid", 0, {"lr": Float(1e-4, 1e-2)})


def test_default_storage_is_a_journal_file_under_studies(tmp_path, monkeypatch):
    monkeypatch.setenv("SKP_STUDIES_DIR", str(tmp_path))
    storage = make_storage(None, "digits.cfg_baseline")
    optuna.create_study(study_name="digits.cfg_baseline", storage=storage)
    assert (tmp_path / "digits.cfg_baseline" / "journal.log").stat().st_size > 0


def test_a_trial_is_never_pruned_at_its_last_epoch():
    """Its compute is spent by then: pruning it would only discard a complete value."""
    from types import SimpleNamespace

    from skp.tune.trial import ReportToTrial

    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0))  # prunes any positive value
    reporter = ReportToTrial(study.ask(), "val/logloss", last_step=9)
    trainer = SimpleNamespace(current_epoch=9)
    reporter.report(trainer, 1.0, 1.0, step=9)
    with pytest.raises(optuna.TrialPruned):
        reporter.report(trainer, 1.0, 1.0, step=8)


def pruner_of(*flags):
    from skp.tune.cli import build_parser
    from skp.tune.options import prepare

    args, tokens = build_parser().parse_known_args(["digits.cfg_baseline", *flags])
    options, _, _ = prepare(args, tokens)
    return options.pruner, options.pruner_settings


def test_skp_tune_fills_the_default_warmup_from_the_shortest_trial():
    # digits searches num_epochs over 10 to 40: the warm-up follows the 10-epoch trials
    assert pruner_of("--pruner", "median") == ("median", PrunerSettings(warmup=3, startup=5))
    assert pruner_of("--pruner", "asha", "--freeze", "num_epochs=30") == ("asha", PrunerSettings(warmup=9, reduction=3))
    assert pruner_of("--pruner", "asha", "--pruner-warmup", "4", "--reduction-factor", "2") == ("asha", PrunerSettings(warmup=4, reduction=2))


def test_skp_tune_refuses_a_setting_its_pruner_does_not_take(capsys):
    from skp.tune.cli import main

    assert main(["digits.cfg_baseline", "--pruner", "none", "--pruner-warmup", "3"]) == 2
    assert "--pruner-warmup does not apply to --pruner none" in capsys.readouterr().err


def test_the_pruning_defaults_are_what_the_help_and_the_readme_state():
    import re
    from pathlib import Path

    from skp.tune.cli import build_parser
    from skp.tune.pruners import DEFAULT_PRUNER, PRUNERS, WARMUP_SHARE

    share = f"{WARMUP_SHARE * 100:.0f}% of the shortest trial's epochs"
    helptext = " ".join(build_parser().format_help().split())
    assert f"(default: {DEFAULT_PRUNER}, on either backend)" in helptext and share in helptext
    assert f"(default: median {PRUNERS['median'].defaults['startup']})" in helptext
    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    stated = re.search(r"\*\*Pruning defaults\*\*: the (\w+) pruner, judging a trial only from (\d+)% of its epochs on", readme)
    assert stated and stated.groups() == (DEFAULT_PRUNER, f"{WARMUP_SHARE * 100:.0f}")
    assert share in readme
    assert f"after {PRUNERS['median'].defaults['startup']} trials finished unpruned" in readme
    assert all(PRUNERS[name].defaults["reduction"] == 3 for name in ("asha", "hyperband"))
    assert "keep 1 trial in 3 at each rung" in readme


@pytest.fixture
def patient_pruner():
    """A pruner added as one class, as a user or a contributor would."""
    from skp.tune.pruners import AUTO, PRUNERS, Pruner

    class Patient(Pruner):
        name = "patient"
        defaults = {"warmup": AUTO}

        def optuna(self, warmup):
            return optuna.pruners.PatientPruner(optuna.pruners.MedianPruner(n_warmup_steps=warmup), patience=2)

        def ray(self, max_t, common, warmup):
            from ray.tune.schedulers import MedianStoppingRule

            return MedianStoppingRule(grace_period=warmup + 1, **common)

    yield Patient
    del PRUNERS["patient"]


def test_a_pruner_is_one_class_and_every_entry_point_takes_it(patient_pruner, capsys):
    from skp.tune.cli import build_parser
    from skp.tune.cli import main as tune_main
    from skp.tune.pruners import PrunerSettings, make_scheduler

    assert "patient" in " ".join(build_parser().format_help().split())
    assert isinstance(make_pruner("patient", epochs=10), optuna.pruners.PatientPruner)
    with pytest.raises(SkpError, match="--pruner-startup does not apply to --pruner patient, which takes --pruner-warmup"):
        make_pruner("patient", PrunerSettings(startup=2), epochs=10)
    pytest.importorskip("ray")
    assert make_scheduler("patient", "min", 9)._grace_period == 4  # 30% of 9 epochs, + 1 in Ray's counting
    argv = ["digits.cfg_baseline", "--study", "pytest_patient", "--trials", "1", "--num_epochs", "1",
            "--limit_train_batches", "2", "--pruner", "patient", "--no-export", "--enable_progress_bar", "False"]
    assert tune_main(argv) == 0
    assert "pruner patient (warm-up 1 epochs)" in capsys.readouterr().out
