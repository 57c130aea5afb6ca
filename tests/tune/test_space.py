import optuna
import pytest

from skp.configs import load_config
from skp.errors import SkpError
from skp.tune.space import Categorical, Float, Int, suggest, validate_space


def _cfg(space, **attrs):
    cfg = load_config("digits.cfg_baseline")
    cfg.search_space = space
    for key, value in attrs.items():
        setattr(cfg, key, value)
    return cfg


def test_shipped_space_is_valid():
    space = validate_space(load_config("digits.cfg_baseline"))
    assert "optimizer_params.lr" in space


@pytest.mark.parametrize(
    "space, message",
    [
        ({"optimizer_params.lrr": Float(1e-4, 1e-2)}, "did you mean 'lr'"),
        ({"batch_sise": Int(8, 64)}, "did you mean 'batch_size'"),
        ({"dropout": Float(0.5, 0.1)}, "greater than high"),
        ({"optimizer_params.lr": Float(0.0, 1e-2, log=True)}, "log range must be positive"),
        ({"mixup": Categorical([])}, "at least one choice"),
        ({"metrics": Categorical([["classification.F1"]])}, "not None, bool, int, float or str"),
        ({"dropout": (0.1, 0.5)}, "is not Float"),
        ({"dropout": Float(0.1, 0.5, when={"nothing": 1})}, "condition names 'nothing'"),
        ({"batch_size": Int(8, 64, step=0)}, "step must be positive"),
        ({"val_transforms": Categorical(["a"])}, "derived"),
    ],
)
def test_invalid_spaces_are_refused_before_any_trial(space, message):
    with pytest.raises(SkpError, match=f"(?i)search space .* invalid.*{message}"):
        validate_space(_cfg(space))


def test_every_problem_is_listed_at_once():
    with pytest.raises(SkpError) as info:
        validate_space(_cfg({"dropout": Float(1, 0), "mixup": Categorical([])}))
    assert "dropout" in str(info.value) and "mixup" in str(info.value)


def test_conditional_parameter_exists_only_when_its_condition_holds():
    space = {
        "loss": Categorical(["classification.CrossEntropyLoss", "classification.FocalLoss"]),
        "loss_params.label_smoothing": Float(0.0, 0.2, when={"loss": "classification.CrossEntropyLoss"}),
    }
    cfg = _cfg(space)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(20):
        trial = study.ask()
        params = suggest(trial, cfg, validate_space(cfg))
        seen.add(params["loss"])
        assert ("loss_params.label_smoothing" in params) == (params["loss"] == "classification.CrossEntropyLoss")
        study.tell(trial, 0.0)
    assert len(seen) == 2


def test_define_by_run_escape_hatch():
    cfg = _cfg({}, search_space_fn=lambda trial, cfg: {"batch_size": trial.suggest_int("batch_size", 16, 32)})
    trial = optuna.create_study().ask()
    assert 16 <= suggest(trial, cfg, validate_space(cfg))["batch_size"] <= 32


def test_values_follow_the_declared_ranges():
    cfg = _cfg({"image_height": Int(24, 40, step=8), "optimizer_params.lr": Float(1e-4, 1e-2, log=True)})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(10):
        params = suggest(study.ask(), cfg, validate_space(cfg))
        assert params["image_height"] in (24, 32, 40)
        assert 1e-4 <= params["optimizer_params.lr"] <= 1e-2
