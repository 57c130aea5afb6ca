"""The baseline trial and the seed check's verdict, without training."""

import math

import optuna
import pytest

from skp.configs import load_config
from skp.errors import SkpError
from skp.tune.baseline import baseline_params, ensure_baseline
from skp.tune.confirm import SeedCheck, verdict
from skp.tune.space import Categorical, Float, Int

SPACE = {
    "optimizer_params.lr": Float(1e-4, 1e-2, log=True),
    "mixup": Categorical([0.0, 0.2]),
    "mixup_prob": Float(0.1, 1.0, when={"mixup": 0.2}),
    "image_height": Int(24, 40, step=8),
}


def test_baseline_params_are_the_configs_own_values_that_apply():
    cfg = load_config("digits.cfg_baseline")
    # mixup_prob only applies with mixup 0.2; the config's mixup is 0.0
    assert baseline_params(cfg, SPACE) == {"optimizer_params.lr": 3e-3, "mixup": 0.0, "image_height": 32}
    cfg = load_config("digits.cfg_baseline", ["--mixup", "0.2"])
    assert baseline_params(cfg, SPACE)["mixup_prob"] == 0.5


def test_a_config_value_outside_the_choices_is_refused():
    cfg = load_config("digits.cfg_baseline", ["--mixup", "0.3"])
    with pytest.raises(SkpError, match="--no-baseline"):
        baseline_params(cfg, SPACE)


def test_the_baseline_is_queued_once_and_again_after_a_failure():
    study = optuna.create_study()
    cfg = load_config("digits.cfg_baseline")
    assert ensure_baseline(study, cfg, SPACE)
    assert not ensure_baseline(study, cfg, SPACE)  # already waiting
    trial = study.ask()
    assert trial.user_attrs["baseline"] and trial.params == {}  # fixed params are suggested on demand
    assert trial.suggest_float("optimizer_params.lr", 1e-4, 1e-2, log=True) == 3e-3
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    assert ensure_baseline(study, cfg, SPACE)  # a failed baseline is queued again


def _check(number, values, baseline=False):
    return SeedCheck(number, baseline, dict(enumerate(values)))


def test_verdict_counts_a_gain_only_beyond_twice_the_seed_spread():
    base = _check(0, [0.0100, 0.0120, 0.0110], baseline=True)
    clear = _check(5, [0.0050, 0.0052, 0.0048])
    assert "beyond the noise" in verdict([clear, base], maximize=False)
    assert "on fold 0, " in verdict([clear, base], maximize=False) and "--promote" in verdict([clear, base], maximize=False)
    everywhere = SeedCheck(5, False, clear.values, folds=(0, 1, 2))
    assert "on folds 0,1,2, " in verdict([everywhere, base], maximize=False)
    assert "--promote" not in verdict([everywhere, base], maximize=False)
    close = _check(6, [0.0095, 0.0110, 0.0100])
    assert "within the noise" in verdict([close, base], maximize=False)
    assert "tuning found nothing better" in verdict([base, close], maximize=False)
    assert "one seed each" in verdict([_check(1, [0.5]), _check(0, [0.6], baseline=True)], maximize=True)
    assert "no seed check of the baseline" in verdict([clear], maximize=False)
    assert math.isclose(clear.mean, 0.005) and clear.std > 0
