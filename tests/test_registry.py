import pytest

from skp import list_components, resolve
from skp.errors import SkpError


def test_each_kind_lists_its_components():
    assert "classification.net2d" in list_components("models")
    assert "segmentation.unet" in list_components("models")
    assert {"simple2d", "simple2d_seg"} <= set(list_components("datasets"))
    assert {"classification", "segmentation"} <= set(list_components("tasks"))
    assert "classification.FocalLoss" in list_components("losses")
    assert "regression.MAE" in list_components("metrics")
    assert "base.CollectingMetric" not in list_components("metrics")  # abstract helpers are not components


def test_resolve_returns_the_conventional_class():
    assert resolve("models", "classification.net2d").__name__ == "Net"
    assert resolve("datasets", "simple2d").__name__ == "Dataset"
    assert resolve("losses", "classification.L1Loss").__name__ == "L1Loss"


@pytest.mark.parametrize(
    "kind, name, expected",
    [
        ("models", "classification.net4d", "classification.net2d"),
        ("losses", "classification.L1loss", "classification.L1Loss"),
        ("metrics", "regression.MAD", "regression.MAE"),
        ("datasets", "nothing", "simple2d"),
    ],
)
def test_unknown_name_lists_available(kind, name, expected):
    with pytest.raises(SkpError, match=expected):
        resolve(kind, name)


def test_unknown_kind():
    with pytest.raises(SkpError, match="kinds"):
        resolve("widgets", "x")
