"""What a blend is expected to gain on test, where every member is already a fold average.

Cross-validation compares one model per row: an OOF row is predicted by the one fold
model that did not train on it, so a blend of M members is scored as M models against
the best member's one. On test, each member is the mean of its C fold models, itself an
ensemble, and a large part of what the blend gained on CV (averaging away each model's
own noise) the best member already has there. Measured on Fashion-MNIST (seed 42): a
top-3 blend gained 0.024 log loss over the best member on CV and 0.0035 on test.

For log loss the part averaging buys can be estimated without test labels. With the
test predictions of each fold model, X_k = the blend applied to fold k's models (one per
member), and G their normalized geometric mean, G = exp(mean_k log X_k) / Z:

    mean over k of log loss(X_k) - log loss(G) = -log Z    for every label,

so the pooling gain -log Z (mean over test rows) needs no labels. It is exact for
geometric pooling; the submission averages probabilities (a member's fold models) or
blends those averages, whose log loss differs from G's by second-order terms (on
Fashion-MNIST the arithmetic mean of a member's folds scored 0.005 better than their
geometric mean, against a pooling gain of 0.046). Taking the blend's own prediction as
the label distribution instead was as close on Fashion-MNIST and far off where fold
models are very noisy (tests/ensemble/test_budget.py's synthetic members).

A candidate's test log loss is then about its cross-validated OOF log loss minus its
pooling gain (the OOF rows are scored one model per member, as X_k is), so its expected
test gain over the best member is its CV gain minus the difference of their pooling
gains. The estimate needs every member's fold checkpoints (not a soup, not predictions
from files) and a log-loss metric.
"""

from __future__ import annotations

import numpy as np

from skp.oof.fast_metrics import EPS

LOG_LOSS = ("classification.LogLoss", "logloss")


def views_averaged(views: dict, names: list[str] | None = None) -> np.ndarray:
    """A member's fold models' test predictions, {view: [per checkpoint (N, K)]}, averaged
    over the views `names` (default: all): (checkpoints, N, K)."""
    return np.mean([np.stack(views[name]) for name in (list(views) if names is None else names)], axis=0)


def pooling_gain(apply_to, fold_tests: list[np.ndarray], problem: str) -> float:
    """-log Z, mean over test rows: how much lower the geometric mean of the fold blends
    X_k scores than X_k do on average, whatever the labels (see above)."""
    singles = np.stack([apply_to([member[k] for member in fold_tests]) for k in range(len(fold_tests[0]))])
    singles = np.clip(singles, EPS, 1 - EPS)
    if problem == "multiclass":
        return float(-np.log(np.exp(np.log(singles).mean(0)).sum(1)).mean())
    # binary and multilabel: each output is a two-class distribution
    z = np.exp(np.log(singles).mean(0)) + np.exp(np.log1p(-singles).mean(0))
    return float(-np.log(z).mean())


def pooling_applies(fold_tests: list[np.ndarray] | None, metric: tuple, problem: str) -> bool:
    """Whether the estimate holds: log loss, and every member with the same number (> 1) of fold models."""
    return bool(
        metric == LOG_LOSS and problem != "regression" and fold_tests
        and len({len(member) for member in fold_tests}) == 1 and len(fold_tests[0]) > 1
    )


def expected_test_gain(result, fold_tests: list[np.ndarray] | None, best: int, cv_gain: float, metric: tuple, problem: str) -> dict | None:
    """The blend's CV gain over the best member (`best`: its index), corrected for the fold
    averaging both already have on test; None when it cannot be estimated (see above)."""
    if result.apply_to is None or not pooling_applies(fold_tests, metric, problem):
        return None
    blend_pooling = pooling_gain(result.apply_to, fold_tests, problem)
    best_pooling = pooling_gain(lambda preds: preds[0], [fold_tests[best]], problem)
    return {
        "checkpoints": len(fold_tests[0]),
        "pooling_gain_blend": blend_pooling,
        "pooling_gain_best_member": best_pooling,
        "expected_test_gain": cv_gain - (best_pooling - blend_pooling),
    }
