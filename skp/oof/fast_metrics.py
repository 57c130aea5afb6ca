"""NumPy twins of skp's built-in metrics, for blending.

Greedy selection scores hundreds of candidate blends per fit; through the torch metric
classes each score pays a conversion to logits and torchmetrics' overhead, and a re-blend
from cache would import torch and torchmetrics (seconds) for nothing else. Each twin
takes predictions as skp-ensemble holds them (probabilities, or values for regression)
and gives what the class gives on the logits of those predictions (tests compare them);
a blend uses a twin only when the members' metric is the built-in class it copies.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-7  # as skp.oof.scoring clips probabilities before taking logits


def _class_probabilities(pred: np.ndarray) -> np.ndarray:
    """softmax(log(clip(p))): what the torch metrics see for multi-class predictions."""
    clipped = np.clip(pred, EPS, None)
    return clipped / clipped.sum(1, keepdims=True)


def _label_probabilities(pred: np.ndarray) -> np.ndarray:
    return np.clip(pred, EPS, 1 - EPS)


def logloss_rows(pred: np.ndarray, targets: np.ndarray, problem: str) -> np.ndarray:
    if problem == "multiclass":
        p = _class_probabilities(pred)
        return -np.log(p[np.arange(len(p)), targets[:, 0].astype(int)])
    p, y = _label_probabilities(pred), targets.reshape(pred.shape)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p)).mean(1)


def logloss(pred: np.ndarray, targets: np.ndarray, problem: str) -> float:
    return float(logloss_rows(pred, targets, problem).mean())


def accuracy_rows(pred: np.ndarray, targets: np.ndarray, problem: str) -> np.ndarray:
    if problem == "multiclass":
        return (pred.argmax(1) == targets[:, 0].astype(int)).astype(np.float64)
    return ((_label_probabilities(pred) > 0.5) == (targets.reshape(pred.shape) > 0.5)).mean(1)


def accuracy(pred: np.ndarray, targets: np.ndarray, problem: str) -> float:
    return float(accuracy_rows(pred, targets, problem).mean())


def binary_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve from the rank sum of the positives (Mann-Whitney U); tied
    scores share their average rank, as the trapezoid of the ROC curve counts them half."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores)
    ordered, sorted_positive = scores[order], positive[order]
    distinct = ordered[1:] != ordered[:-1]
    if distinct.all():
        rank_sum = np.flatnonzero(sorted_positive).sum() + n_pos
    else:
        starts = np.flatnonzero(np.r_[True, distinct])
        run_ranks = (starts + np.r_[starts[1:], len(ordered)] + 1) / 2.0
        run_of = np.cumsum(np.r_[True, distinct]) - 1
        rank_sum = run_ranks[run_of[sorted_positive]].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc(pred: np.ndarray, targets: np.ndarray, problem: str) -> float:
    """Macro average over classes (one against the rest) or labels; classes without
    both positives and negatives are left out of the average."""
    if problem == "binary":
        return binary_auc(_label_probabilities(pred)[:, 0], targets[:, 0] > 0.5)
    if problem == "multiclass":
        p, labels = _class_probabilities(pred), targets[:, 0].astype(int)
        columns = [binary_auc(p[:, k], labels == k) for k in range(p.shape[1])]
    else:
        p, y = _label_probabilities(pred), targets.reshape(pred.shape) > 0.5
        columns = [binary_auc(p[:, k], y[:, k]) for k in range(p.shape[1])]
    return float(np.nanmean(columns))


def mae_rows(pred: np.ndarray, targets: np.ndarray, problem: str) -> np.ndarray:
    return np.abs(pred - targets.reshape(pred.shape)).mean(1)


def mae(pred: np.ndarray, targets: np.ndarray, problem: str) -> float:
    return float(mae_rows(pred, targets, problem).mean())


def mse_rows(pred: np.ndarray, targets: np.ndarray, problem: str) -> np.ndarray:
    return ((pred - targets.reshape(pred.shape)) ** 2).mean(1)


def mse(pred: np.ndarray, targets: np.ndarray, problem: str) -> float:
    return float(mse_rows(pred, targets, problem).mean())


# (metric class, value name) -> twin
TWINS = {
    ("classification.LogLoss", "logloss"): logloss,
    ("classification.Accuracy", "accuracy"): accuracy,
    ("classification.AUROC", "auc"): auc,
    ("regression.MAE", "mae"): mae,
    ("regression.MSE", "mse"): mse,
}

# The twins that are a mean over rows, as one value per row: what a paired test over
# rows compares (fold racing in promotion). AUC is not a mean over rows.
ROW_TWINS = {
    ("classification.LogLoss", "logloss"): logloss_rows,
    ("classification.Accuracy", "accuracy"): accuracy_rows,
    ("regression.MAE", "mae"): mae_rows,
    ("regression.MSE", "mse"): mse_rows,
}
