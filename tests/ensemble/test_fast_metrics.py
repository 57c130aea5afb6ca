"""The NumPy twins give what skp's metric classes give on the same predictions."""

import numpy as np
import pytest

from skp.configs import Config
from skp.oof.fast_metrics import TWINS
from skp.oof.scoring import Scorer

PROBLEMS = {
    "classification": ["binary", "multiclass", "multilabel"],
    "regression": ["regression"],
}


def _data(problem, rng, n=3000, ties=False):
    if problem == "multiclass":
        pred = rng.dirichlet(np.ones(5), n)
        targets = rng.integers(0, 5, (n, 1)).astype(float)
        targets[: n // 2, 0] = pred[: n // 2].argmax(1)  # better than chance
    elif problem == "regression":
        targets = rng.normal(size=(n, 2))
        pred = targets + rng.normal(size=(n, 2))
    else:
        width = 1 if problem == "binary" else 3
        targets = (rng.random((n, width)) < 0.3).astype(float)
        pred = np.clip(0.3 * targets + 0.7 * rng.random((n, width)), 0, 1)
    if ties and problem != "regression":
        pred = np.round(pred, 1)  # many exact ties, which AUROC must split evenly
        if problem == "multiclass":
            pred = np.clip(pred, 0.05, None)
            pred /= pred.sum(1, keepdims=True)
    return pred, targets


@pytest.mark.parametrize("metric, name", sorted(TWINS), ids=[m for m, _ in sorted(TWINS)])
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "tied"])
def test_every_twin_matches_its_metric_class(metric, name, ties):
    rng = np.random.default_rng(0)
    cfg = Config()
    for problem in PROBLEMS[metric.partition(".")[0]]:
        pred, targets = _data(problem, rng, ties=ties)
        expected = Scorer(name, "max", problem, targets, metric, cfg, twin=False)(pred)
        # the classes compute in float32, where renormalised tied probabilities may come apart
        tolerance = 1e-4 if ties else 1e-6
        assert Scorer(name, "max", problem, targets, metric)(pred) == pytest.approx(expected, rel=tolerance, abs=tolerance), problem
