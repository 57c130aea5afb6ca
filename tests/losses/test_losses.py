import pytest
import torch
import torch.nn.functional as F

from skp import list_components, resolve
from skp.configs import Config


def _cfg(**params):
    cfg = Config()
    cfg.loss_params = params
    return cfg


def _example(name):
    """Logits and a batch shaped as the loss's module expects."""
    torch.manual_seed(0)
    if name.startswith("segmentation."):
        return torch.randn(2, 1, 8, 8, requires_grad=True), {"y": (torch.rand(2, 1, 8, 8) > 0.5).float()}
    if name in ("classification.CrossEntropyLoss",):
        return torch.randn(4, 3, requires_grad=True), {"y": torch.tensor([[0.0], [2.0], [1.0], [2.0]])}
    return torch.randn(4, 1, requires_grad=True), {"y": torch.tensor([[0.0], [1.0], [1.0], [0.0]])}


@pytest.mark.parametrize("name", list_components("losses"))
def test_every_loss_returns_loss_and_parts(name):
    logits, batch = _example(name)
    out = resolve("losses", name)(_cfg())({"logits": logits}, batch)
    parts = [k for k in out if k.endswith("_loss")]
    assert "loss" in out and parts
    assert torch.isfinite(out["loss"]) and out["loss"].ndim == 0
    out["loss"].backward()
    assert logits.grad is not None


def test_losses_match_torch_reference_values():
    logits, batch = _example("classification.CrossEntropyLoss")
    ce = resolve("losses", "classification.CrossEntropyLoss")(_cfg())({"logits": logits}, batch)["loss"]
    assert ce.item() == pytest.approx(F.cross_entropy(logits, batch["y"][:, 0].long()).item())
    pred = torch.tensor([[1.0], [3.0]])
    y = {"y": torch.tensor([[2.0], [1.0]])}
    assert resolve("losses", "classification.L1Loss")(_cfg())({"logits": pred}, y)["l1_loss"].item() == pytest.approx(1.5)
    assert resolve("losses", "classification.MSELoss")(_cfg())({"logits": pred}, y)["loss"].item() == pytest.approx(2.5)


def test_focal_loss_downweights_easy_examples():
    focal = resolve("losses", "classification.FocalLoss")(_cfg(gamma=2.0, alpha=None))
    bce = resolve("losses", "classification.BCEWithLogitsLoss")(_cfg())
    easy = {"logits": torch.tensor([[4.0]])}, {"y": torch.tensor([[1.0]])}
    assert focal(*easy)["loss"] < 0.01 * bce(*easy)["loss"]
    with_zero_gamma = resolve("losses", "classification.FocalLoss")(_cfg(gamma=0.0, alpha=None))
    assert with_zero_gamma(*easy)["loss"].item() == pytest.approx(bce(*easy)["loss"].item())


def test_dice_loss_is_zero_for_a_perfect_mask():
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1
    logits = (mask * 2 - 1) * 50
    out = resolve("losses", "segmentation.DiceLoss")(_cfg(smooth=0.0))({"logits": logits}, {"y": mask})
    assert out["loss"].item() == pytest.approx(0.0, abs=1e-5)


def test_loss_does_not_modify_loss_params():
    cfg = _cfg(gamma=1.0)
    resolve("losses", "classification.FocalLoss")(cfg)
    assert cfg.loss_params == {"gamma": 1.0}


def _reference_soft_dice(probabilities, onehot, smooth=1.0):
    """Per class over the batch, then averaged; smp adds smooth to both halves of the fraction."""
    intersection = (probabilities * onehot).sum((0, 2, 3))
    dice = (2 * intersection + 2 * smooth) / (probabilities.sum((0, 2, 3)) + onehot.sum((0, 2, 3)) + 2 * smooth)
    return 1 - dice.mean()


def test_segmentation_dice_is_the_soft_dice_for_binary_and_multiclass_masks():
    torch.manual_seed(0)
    binary_logits, mask = torch.randn(2, 1, 8, 8), (torch.rand(2, 1, 8, 8) > 0.5).float()
    dice = resolve("losses", "segmentation.DiceLoss")(_cfg())
    expected = _reference_soft_dice(torch.sigmoid(binary_logits), mask)
    assert dice({"logits": binary_logits}, {"y": mask})["loss"].item() == pytest.approx(expected.item(), abs=1e-5)
    logits, classes = torch.randn(2, 3, 8, 8), torch.randint(0, 3, (2, 8, 8))
    onehot = F.one_hot(classes, 3).permute(0, 3, 1, 2).float()
    expected = _reference_soft_dice(logits.softmax(1), onehot)
    assert dice({"logits": logits}, {"y": classes})["loss"].item() == pytest.approx(expected.item(), abs=1e-5)


@pytest.mark.parametrize("name", [n for n in list_components("losses") if n.startswith("segmentation.")])
def test_every_segmentation_loss_takes_class_indices(name):
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    out = resolve("losses", name)(_cfg())({"logits": logits}, {"y": torch.randint(0, 3, (2, 8, 8))})
    assert torch.isfinite(out["loss"])
    out["loss"].backward()


def test_combo_loss_is_the_weighted_sum_of_its_parts():
    logits, batch = _example("segmentation.ComboLoss")
    params = {"bce": 1.0, "lovasz": 0.5, "tversky": 2.0, "tversky_params": {"alpha": 0.3, "beta": 0.7}}
    out = resolve("losses", "segmentation.ComboLoss")(_cfg(**params))({"logits": logits}, batch)
    assert set(out) == {"loss", "bce_loss", "lovasz_loss", "tversky_loss"}
    expected = out["bce_loss"] + 0.5 * out["lovasz_loss"] + 2.0 * out["tversky_loss"]
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert out["bce_loss"].item() == pytest.approx(F.binary_cross_entropy_with_logits(logits, batch["y"]).item())
    tversky = resolve("losses", "segmentation.TverskyLoss")(_cfg(alpha=0.3, beta=0.7))({"logits": logits}, batch)["loss"]
    assert out["tversky_loss"].item() == pytest.approx(tversky.item())


def test_segmentation_loss_options_are_checked_when_built():
    from skp.errors import SkpError

    with pytest.raises(SkpError, match=r"the parts are \['bce', 'dice'"):
        resolve("losses", "segmentation.ComboLoss")(_cfg(bce=1.0, lovaz=1.0))
    with pytest.raises(SkpError, match="'bce' takes no options"):
        resolve("losses", "segmentation.ComboLoss")(_cfg(bce=1.0, bce_params={"pos_weight": 2.0}))
    with pytest.raises(SkpError, match="'focal' got options {'gama': 2}"):
        resolve("losses", "segmentation.FocalLoss")(_cfg(gama=2))
