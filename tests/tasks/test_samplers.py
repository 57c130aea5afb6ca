import pandas as pd
import pytest

from skp.configs import Config
from skp.errors import SkpError
from skp.tasks.samplers import build_sampler


class _Rows:
    def __init__(self, n):
        self.frame = pd.DataFrame({"weight": [0.0] * (n - 1) + [1.0]})

    def __len__(self):
        return len(self.frame)


def _cfg(sampler, **params):
    cfg = Config()
    cfg.sampler, cfg.sampler_params = sampler, params
    return cfg


def test_iteration_based_sampler_has_a_fixed_length_and_covers_the_data():
    sampler = build_sampler(_cfg("IterationBasedSampler", num_samples=25), _Rows(10))
    order = list(sampler)
    assert len(order) == len(sampler) == 25
    assert set(order[:10]) == set(range(10))  # each pass is a permutation
    assert list(sampler) == order  # the order is a function of (seed, epoch): resumable
    sampler.set_epoch(1)
    assert list(sampler) != order  # a new order every epoch


def test_weighted_sampler_follows_the_column():
    sampler = build_sampler(_cfg("WeightedSampler", weights_column="weight"), _Rows(5))
    assert set(sampler) == {4}


def test_weighted_sampler_draws_by_epoch():
    rows = _Rows(50)
    rows.frame["weight"] = 1.0
    sampler = build_sampler(_cfg("WeightedSampler", weights_column="weight"), rows, seed=3)
    first = list(sampler)
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_sampler_errors():
    with pytest.raises(SkpError, match="IterationBasedSampler"):
        build_sampler(_cfg("IterationSampler"), _Rows(3))
    with pytest.raises(SkpError, match="not a column"):
        build_sampler(_cfg("WeightedSampler", weights_column="w"), _Rows(3))
    assert build_sampler(_cfg(None), _Rows(3)) is None
