"""Blending member predictions: weights are fitted on OOF predictions only, then applied to test.

Predictions are (N, K) arrays: class probabilities (multiclass), sigmoid probabilities
(binary, multilabel) or values (regression). Scores come from the skp metric classes the
members were validated with, so a blend is judged exactly as its members were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.special import logit
from scipy.stats import rankdata

from skp.errors import SkpError
from skp.registry import list_components, resolve

EPS = 1e-7


def problem_of(cfg, width: int) -> str:
    activation = cfg.activation or getattr(resolve("losses", cfg.loss), "activation", None)
    if activation == "softmax":
        return "multiclass"
    if activation == "sigmoid":
        return "binary" if width == 1 else "multilabel"
    return "regression"


def to_logits(pred: np.ndarray, problem: str) -> torch.Tensor:
    """Inverse of the members' activation, so the metric classes (which take logits) score predictions."""
    if problem == "multiclass":
        pred = np.log(np.clip(pred, EPS, None))
    elif problem in ("binary", "multilabel"):
        pred = logit(np.clip(pred, EPS, 1 - EPS))
    return torch.from_numpy(np.asarray(pred, np.float32))


class Scorer:
    """score(pred, target) with the metric value `name` of an skp metric class, and its direction."""

    def __init__(self, cfg, problem: str, name: str | None, direction: str | None, sample_pred, targets):
        self.problem, self.cfg = problem, cfg
        self.name = name or cfg.val_metric
        if direction is None:
            if self.name != cfg.val_metric:
                raise SkpError(
                    f"Say whether metric {self.name!r} is better higher or lower: direction='max' "
                    f"or 'min' in the recipe (--direction)."
                )
            direction = cfg.val_track
        self.direction = direction
        self.targets = torch.from_numpy(np.asarray(targets, np.float32))
        self.metric = self._find(sample_pred)

    def _find(self, sample_pred):
        candidates = list(self.cfg.metrics or [])
        candidates += [c for c in list_components("metrics") if c not in candidates]
        for dotted in candidates:
            metric = resolve("metrics", dotted)(self.cfg)
            try:
                values = self._compute(metric, sample_pred)
            except (RuntimeError, ValueError, KeyError, IndexError):
                continue  # a metric of another problem type
            if self.name in values:
                return metric
        raise SkpError(
            f"No skp metric gives a value named {self.name!r} for these predictions. Name one of "
            f"the values the members' metrics report (e.g. their val_metric {self.cfg.val_metric!r})."
        )

    def _compute(self, metric, pred, rows=None) -> dict:
        targets = self.targets if rows is None else self.targets[rows]
        metric.reset()
        metric.update({"logits": to_logits(pred, self.problem)}, {"y": targets})
        return metric.compute()

    def __call__(self, pred: np.ndarray, rows: np.ndarray | None = None) -> float:
        """The metric of `pred`, whose rows are `rows` of the OOF set (default: all of them)."""
        return float(self._compute(self.metric, pred, rows)[self.name])

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "max" else a < b


# -- combining -----------------------------------------------------------------------
def weighted_mean(preds: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    return sum(w * p for w, p in zip(weights, preds)) / weights.sum()


def power_mean(preds: list[np.ndarray], power: float, problem: str) -> np.ndarray:
    """(mean p^power)^(1/power); power 0 is the geometric mean. Multi-class rows are renormalized."""
    stacked = np.clip(np.stack(preds), EPS, None)
    if power == 0:
        blended = np.exp(np.log(stacked).mean(0))
    else:
        blended = (stacked**power).mean(0) ** (1 / power)
    if problem == "multiclass":
        blended = blended / blended.sum(1, keepdims=True)
    return blended


def rank_mean(preds: list[np.ndarray], problem: str) -> np.ndarray:
    """Mean of per-column ranks scaled to (0, 1]; for AUC-like metrics across differently calibrated members."""
    ranks = [rankdata(p, axis=0) / len(p) for p in preds]
    blended = np.mean(ranks, axis=0)
    if problem == "multiclass":
        blended = blended / blended.sum(1, keepdims=True)
    return blended


# -- fitting weights -------------------------------------------------------------------
def fit_greedy(preds: list[np.ndarray], scorer: Scorer, rows: np.ndarray, rounds: int) -> np.ndarray:
    """Forward selection with replacement (Caruana et al. 2004): each round adds the member
    that most improves the running mean; the best round's counts are the weights. Round 1
    picks the best single member, so the result is never worse than it on these rows."""
    total = np.zeros_like(preds[0][rows])
    counts = np.zeros(len(preds))
    best_score, best_counts = None, None
    for r in range(1, rounds + 1):
        scores = [scorer((total + p[rows]) / r, rows) for p in preds]
        chosen = 0
        for i, s in enumerate(scores):
            if scorer.better(s, scores[chosen]):
                chosen = i
        total += preds[chosen][rows]
        counts[chosen] += 1
        if best_score is None or scorer.better(scores[chosen], best_score):
            best_score, best_counts = scores[chosen], counts.copy()
    return best_counts / best_counts.sum()


def _surrogate(problem: str, scorer: Scorer, rows: np.ndarray):
    """A smooth loss of the blended rows: log loss for probabilities, the metric itself for values."""
    targets = scorer.targets.numpy()[rows]
    if problem == "multiclass":
        labels = targets[:, 0].astype(int)
        return lambda p: -np.log(np.clip(p[np.arange(len(p)), labels], EPS, None)).mean()
    if problem in ("binary", "multilabel"):
        return lambda p: -(targets * np.log(np.clip(p, EPS, 1)) + (1 - targets) * np.log(np.clip(1 - p, EPS, 1))).mean()
    sign = 1 if scorer.direction == "min" else -1
    return lambda p: sign * scorer(p, rows)


def fit_simplex(preds: list[np.ndarray], scorer: Scorer, rows: np.ndarray, problem: str) -> np.ndarray:
    """Non-negative weights summing to 1 (SLSQP) that minimize the surrogate loss on `rows`."""
    loss = _surrogate(problem, scorer, rows)
    parts = [p[rows] for p in preds]
    n = len(preds)
    result = minimize(
        lambda w: loss(sum(wi * p for wi, p in zip(w, parts))),
        np.full(n, 1 / n),
        method="SLSQP",
        bounds=[(0.0, 1.0)] * n,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
    )
    weights = np.clip(result.x, 0, None)
    return weights / weights.sum()


# -- stacking --------------------------------------------------------------------------
def _features(preds: list[np.ndarray], problem: str) -> np.ndarray:
    # Probabilities, not their logs: clipped log-probabilities of overconfident members
    # dominate a linear stacker (measured on digits: 0.86 vs 0.78 accuracy out of fold).
    return np.concatenate(preds, axis=1)


def _logistic():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=2000)


def _fit_stacker(features, targets, problem: str, width: int, members: int):
    from sklearn.linear_model import RidgeCV

    if problem == "multiclass":
        return [_logistic().fit(features, targets[:, 0].astype(int))]
    if problem == "regression":
        return [RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(features, targets)]
    # one logistic regression per label, on that label's column of every member
    columns = [list(range(j, width * members, width)) for j in range(width)]
    return [_logistic().fit(features[:, c], targets[:, j]) for j, c in enumerate(columns)]


def _apply_stacker(models, features, problem: str, width: int, members: int) -> np.ndarray:
    if problem == "multiclass":
        model = models[0]
        proba = np.zeros((len(features), width))
        proba[:, model.classes_] = model.predict_proba(features)  # classes missing from a fold stay 0
        return proba
    if problem == "regression":
        return models[0].predict(features).reshape(len(features), -1)
    columns = [list(range(j, width * members, width)) for j in range(width)]
    return np.stack([m.predict_proba(features[:, c])[:, 1] for m, c in zip(models, columns)], axis=1)


# -- the methods ---------------------------------------------------------------------
@dataclass
class BlendResult:
    method: str
    weights: np.ndarray | None  # per member, for weighted methods
    oof: np.ndarray  # fitted on all OOF rows (for stacker: cross-validated)
    test: np.ndarray
    cv_oof: np.ndarray  # each fold's rows blended with what was fitted on the other folds


def cv_groups(row_folds: np.ndarray) -> list[np.ndarray]:
    """Rows of each fold; with a single fold, five interleaved parts of it."""
    folds = np.unique(row_folds)
    if len(folds) > 1:
        return [np.flatnonzero(row_folds == f) for f in folds]
    index = np.arange(len(row_folds))
    return [index[i::5] for i in range(5)]


def blend(method: str, oofs, tests, scorer: Scorer, row_folds, problem: str, power=2.0, rounds=50) -> BlendResult:
    everything = np.arange(len(oofs[0]))
    n = len(oofs)

    def fitted_weights(rows):
        if method == "greedy":
            return fit_greedy(oofs, scorer, rows, rounds)
        if method == "simplex":
            return fit_simplex(oofs, scorer, rows, problem)
        return np.full(n, 1 / n)

    if method in ("mean", "greedy", "simplex"):
        weights = fitted_weights(everything)
        cv_oof = np.zeros_like(oofs[0])
        for held_out in cv_groups(row_folds):
            w = fitted_weights(np.setdiff1d(everything, held_out))
            cv_oof[held_out] = weighted_mean([p[held_out] for p in oofs], w)
        return BlendResult(method, weights, weighted_mean(oofs, weights), weighted_mean(tests, weights), cv_oof)
    if method in ("geometric", "power"):
        exponent = 0.0 if method == "geometric" else power
        oof = power_mean(oofs, exponent, problem)
        return BlendResult(method, None, oof, power_mean(tests, exponent, problem), oof)
    if method == "rank":
        oof = rank_mean(oofs, problem)
        return BlendResult(method, None, oof, rank_mean(tests, problem), oof)
    if method == "stacker":
        return _stack(oofs, tests, scorer, row_folds, problem)
    raise SkpError(f"Unknown blend method {method!r}.")


def _stack(oofs, tests, scorer: Scorer, row_folds, problem: str) -> BlendResult:
    width, members = oofs[0].shape[1], len(oofs)
    targets = scorer.targets.numpy()
    features, test_features = _features(oofs, problem), _features(tests, problem)
    cv_oof = np.zeros_like(oofs[0])
    everything = np.arange(len(features))
    for held_out in cv_groups(row_folds):
        train = np.setdiff1d(everything, held_out)
        models = _fit_stacker(features[train], targets[train], problem, width, members)
        cv_oof[held_out] = _apply_stacker(models, features[held_out], problem, width, members)
    models = _fit_stacker(features, targets, problem, width, members)
    test = _apply_stacker(models, test_features, problem, width, members)
    return BlendResult("stacker", None, cv_oof, test, cv_oof)
