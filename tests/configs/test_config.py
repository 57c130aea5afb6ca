import json

import pytest

from skp.configs import Config, list_configs, load_config
from skp.configs.overrides import coerce, parse_override_tokens
from skp.errors import SkpError


@pytest.mark.parametrize("name", list_configs())
def test_every_shipped_config_loads(name):
    cfg = load_config(name)
    assert cfg.config_name == name
    json.loads(cfg.to_json())  # the run directory's text dump is valid JSON
    assert name in str(cfg)


def test_unset_attribute_reads_none_and_base_defaults_exist():
    cfg = Config()
    assert cfg.some_attribute_nobody_set is None
    assert set(cfg.ema) >= {"on", "decay", "update_after_step", "update_every_n_steps", "use_warmup", "warmup_gamma", "warmup_power", "switch_ema"}
    assert cfg.enable_gradient_checkpointing is False


@pytest.mark.parametrize(
    "tokens",
    [
        ["--batch_size", "16", "--optimizer_params.lr", "0.001", "--ema.on", "True"],
        ["--batch_size=16", "--optimizer_params.lr=1e-3", "--ema.on=true"],
    ],
)
def test_override_forms(tokens):
    cfg = load_config("digits.cfg_baseline", tokens)
    assert cfg.batch_size == 16 and isinstance(cfg.batch_size, int)
    assert cfg.optimizer_params["lr"] == pytest.approx(1e-3)
    assert cfg.ema["on"] is True
    assert cfg.optimizer_params["weight_decay"] == 1e-2  # other keys of the dict stay


def test_literal_and_none_overrides():
    cfg = load_config("digits.cfg_baseline", ["--metrics", "['classification.F1']", "--scheduler", "None"])
    assert cfg.metrics == ["classification.F1"]
    assert cfg.scheduler is None
    assert coerce("t", "(1, 2)", [0]) == [1, 2]  # converted to the attribute's own type
    assert coerce("t", "3", 1.5) == 3.0 and isinstance(coerce("t", "3", 1.5), float)
    # a named setting may become a list (cfg.windows: "header" or windows); other text stays text
    assert coerce("windows", "[(40, 400)]", "header") == [(40, 400)]
    assert coerce("run_id", "123", "abc") == "123" and coerce("backbone", "resnet18", "resnet10t") == "resnet18"


def test_derived_attribute_follows_override():
    cfg = load_config("digits.cfg_baseline", ["--image_height", "48", "--image_width", "40"])
    image = __import__("numpy").zeros((8, 8, 1), "uint8")
    assert cfg.val_transforms(image=image)["image"].shape[:2] == (48, 40)
    assert cfg.train_transforms(image=image)["image"].shape[:2] == (48, 40)


def test_configs_are_private_copies():
    first = load_config("digits.cfg_baseline", ["--optimizer_params.lr", "0.5"])
    second = load_config("digits.cfg_baseline")
    first.ema["on"] = True
    assert second.optimizer_params["lr"] == 3e-3
    assert second.ema["on"] is False
    copy = second.copy()
    copy.optimizer_params["lr"] = 9.0
    assert second.optimizer_params["lr"] == 3e-3


@pytest.mark.parametrize(
    "tokens, message",
    [
        (["--batch_sise", "8"], "did you mean 'batch_size'"),
        (["--optimizer_params.lrr", "1"], "did you mean 'lr'"),
        (["--batch_size", "eight"], "'eight'.*int"),
        (["--ema.on", "yes"], "True or False"),
        (["--optimizer_params.lr", "fast"], "'fast'.*float"),
        (["--batch_size"], "has no value"),
        (["batch_size", "8"], "Unexpected argument"),
        (["--val_transforms", "None"], "derived"),
        (["--ema.on.x", "1"], "nested"),
        (["--metrics", "3"], "list"),
    ],
)
def test_override_errors(tokens, message):
    with pytest.raises(SkpError, match=f"(?i){message}"):
        load_config("digits.cfg_baseline", tokens)


def test_unknown_config_lists_what_exists():
    with pytest.raises(SkpError, match="digits.cfg_baseline"):
        load_config("digits.cfg_nope")
    with pytest.raises(SkpError, match="Configs in skp's examples: .*digits.cfg_baseline"):
        load_config("nope.cfg_baseline")
    with pytest.raises(SkpError, match="project.cfg_name"):
        load_config("digits")


def test_parse_override_tokens_keeps_values_with_equals():
    assert parse_override_tokens(["--a=b=c", "--d", "-1"]) == [("a", "b=c"), ("d", "-1")]
