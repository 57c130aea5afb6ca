import pytest
import torch

from skp import list_components, resolve
from tests.components import config_using


def _config_for(name):
    """A shipped config that uses the model; segmentation architectures without one run on
    shapes' U-Net config with their own default decoder."""
    try:
        return config_using("model", name), []
    except AssertionError:
        if not name.startswith("segmentation."):
            raise
        return "shapes.cfg_unet", ["--model", name, "--decoder_channels", "None"]


@pytest.mark.parametrize("name", list_components("models"))
def test_every_model_builds_and_runs_forward(name, small_config):
    cfg = small_config(*_config_for(name))
    net = resolve("models", name)(cfg).eval()
    spatial = tuple(cfg.volume_shape) if cfg.volume_shape else (32, 32)  # volumes for 3D models
    batch = {"x": torch.rand(2, cfg.num_input_channels, *spatial) * 255}
    for column in cfg.metadata_embeddings or {}:
        batch[column] = torch.tensor([0, 1])
    with torch.no_grad():
        out = net(batch)
    assert isinstance(out, dict) and torch.isfinite(out["logits"]).all()
    assert out["logits"].shape[:2] == (2, cfg.num_classes)
    if name.startswith("segmentation."):
        assert out["logits"].shape[-2:] == (32, 32)


@pytest.mark.parametrize("pool", ["avg", "max", "gem"])
def test_net2d_pooling_options(pool, small_config):
    cfg = small_config("digits.cfg_baseline", ["--pool", pool])
    out = resolve("models", cfg.model)(cfg)({"x": torch.rand(3, 1, 32, 32) * 255})
    assert out["logits"].shape == (3, 10)


def test_metadata_changes_the_prediction(small_config):
    cfg = small_config("boneage.cfg_baseline", ["--backbone", "resnet10t"])
    net = resolve("models", cfg.model)(cfg).eval()
    x = torch.rand(1, 1, 32, 32).repeat(2, 1, 1, 1)
    with torch.no_grad():
        out = net({"x": x, "male": torch.tensor([0, 1])})["logits"]
    assert out[0] != out[1]


@pytest.mark.parametrize("config", ["digits.cfg_baseline", "shapes.cfg_unet"])  # timm directly, and through smp
def test_pretrained_offline_fails_clearly(config, small_config, monkeypatch):
    from skp.errors import SkpError
    from skp.toolbox import timm_models

    monkeypatch.setattr(timm_models, "_hub_reachable", lambda timeout=3.0: False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    cfg = small_config(config, ["--pretrained", "True"])
    with pytest.raises(SkpError, match="--pretrained False"):
        resolve("models", cfg.model)(cfg)


def test_unknown_backbone_suggests_names(small_config):
    from skp.errors import SkpError

    with pytest.raises(SkpError, match="resnet10t"):
        resolve("models", "classification.net2d")(small_config("digits.cfg_baseline", ["--backbone", "resnet10"]))


@pytest.mark.parametrize("size", [(32, 32), (50, 70)])
def test_segmentation_logits_keep_any_input_size(size, small_config):
    """smp needs multiples of the encoder's stride: skp pads and crops back."""
    cfg = small_config("shapes.cfg_unet", ["--num_classes", "3"])
    net = resolve("models", cfg.model)(cfg).eval()
    with torch.no_grad():
        out = net({"x": torch.rand(2, 1, *size) * 255})["logits"]
    assert out.shape == (2, 3, *size)


def test_segmentation_model_arguments_are_checked(small_config):
    from skp.errors import SkpError

    cfg = small_config("shapes.cfg_unet", ["--model_params", "{'decoder_attention_type': 'scse', 'encoder_depth': 5}"])
    assert resolve("models", cfg.model)(cfg).model.decoder is not None  # smp arguments pass through
    cfg = small_config("shapes.cfg_unet", ["--model_params", "{'decoder_atention_type': 'scse'}"])
    with pytest.raises(SkpError, match=r"has \['decoder_atention_type'\], which smp.Unet does not take.*decoder_attention_type"):
        resolve("models", cfg.model)(cfg)
    cfg = small_config("shapes.cfg_unet", ["--model_params", "{'classes': 4}"])
    with pytest.raises(SkpError, match="skp sets from the config"):
        resolve("models", cfg.model)(cfg)
    cfg = small_config("shapes.cfg_unet", ["--model", "segmentation.fpn"])  # FPN has no decoder_channels
    with pytest.raises(SkpError, match="smp.FPN does not take"):
        resolve("models", cfg.model)(cfg)
