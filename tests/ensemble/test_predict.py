"""Inference pieces: model soup, checkpoint checks, the prediction cache and its keys."""

import os

import numpy as np
import pytest
import torch

from skp.ensemble.predict import PredictionCache, check_weights, data_signature, soup
from skp.errors import SkpError


def test_soup_averages_float_weights_and_keeps_counters():
    a = {"w": torch.tensor([1.0, 3.0]), "n": torch.tensor(5)}
    b = {"w": torch.tensor([3.0, 5.0]), "n": torch.tensor(7)}
    averaged = soup([a, b])
    assert averaged["w"].tolist() == [2.0, 4.0] and int(averaged["n"]) == 5


def test_checkpoint_of_another_model_is_named_with_the_difference():
    model = torch.nn.Sequential(torch.nn.Linear(4, 2))
    weights = {"0.weight": torch.zeros(3, 4), "0.bias": torch.zeros(2), "1.weight": torch.zeros(1)}
    with pytest.raises(SkpError) as err:
        check_weights(model, weights, "fold0/best.pt", "digits.cfg_baseline")
    text = str(err.value)
    assert "fold0/best.pt does not fit the model of digits.cfg_baseline" in text
    assert "1 unexpected" in text and "0.weight: (3, 4) vs (2, 4)" in text


def test_cache_round_trip_counts_hits_and_leaves_no_temporary_file(tmp_path):
    cache = PredictionCache(tmp_path)
    key = cache.key(["abc"], "validated", "inference", None, "sig", "none")
    assert key != cache.key(["abc"], "validated", "inference", None, "sig", "hflip")
    assert cache.get(key) is None
    cache.put(key, np.arange(6, dtype=np.float32).reshape(3, 2))
    np.testing.assert_array_equal(cache.get(key), np.arange(6).reshape(3, 2))
    assert (cache.hits, cache.misses) == (1, 1)
    assert [p.name for p in tmp_path.iterdir()] == [f"{key}.npz"]
    assert PredictionCache(None).get(key) is None  # --no-cache


def test_a_changed_image_changes_the_data_signature(tmp_path):
    class Images:
        ids = [1, 2]
        paths = [str(tmp_path / "1.png"), str(tmp_path / "2.png")]

    for path in Images.paths:
        with open(path, "wb") as f:
            f.write(b"x")
    before = data_signature(Images)
    assert data_signature(Images) == before
    with open(Images.paths[1], "wb") as f:
        f.write(b"xy")
    assert data_signature(Images) != before
    os.utime(Images.paths[1], ns=(0, 0))
    Images.ids = [1, 3]
    assert data_signature(Images) != before
