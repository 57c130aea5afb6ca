"""Blending member predictions: weights are fitted on OOF predictions only, then applied to test.

Predictions are (N, K) arrays: class probabilities (multiclass), sigmoid probabilities
(binary, multilabel) or values (regression). Scores come from the skp metric classes the
members were validated with (or their NumPy twins), so a blend is judged exactly as its
members were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import numpy as np

from skp.ensemble.fold_pooling import pooling_applies, pooling_gain
from skp.ensemble.mask_blend import greedy_weights
from skp.errors import SkpError
from skp.registry import choose
from skp.oof.fast_metrics import EPS
from skp.oof.scoring import Scorer
from skp.oof.selection import best_prefix, forward_selection


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
    from scipy.stats import rankdata

    ranks = [rankdata(p, axis=0) / len(p) for p in preds]
    blended = np.mean(ranks, axis=0)
    if problem == "multiclass":
        blended = blended / blended.sum(1, keepdims=True)
    return blended


# -- fitting weights -------------------------------------------------------------------
def fit_greedy(preds: list[np.ndarray], scorer: Scorer, rows: np.ndarray, rounds: int) -> np.ndarray:
    """Forward selection with replacement (Caruana et al. 2004): each round adds the member
    that most improves the running mean; the best round's counts are the weights. Round 1
    picks the best single member, so the result is never worse than it on these rows.
    The running sum is kept, so a round costs one score per member."""
    parts = [p[rows] for p in preds]
    score = scorer.on(rows)
    state = {"total": np.zeros_like(parts[0]), "size": 0}

    def add(i):
        state["total"] += parts[i]
        state["size"] += 1

    picks = forward_selection(len(parts), lambda i: score((state["total"] + parts[i]) / (state["size"] + 1)), add, scorer.better, rounds)
    counts = np.bincount(best_prefix(picks, scorer.better), minlength=len(preds)).astype(float)
    return counts / counts.sum()


def _surrogate(problem: str, scorer: Scorer, rows: np.ndarray):
    """A smooth loss of the blended rows: log loss for probabilities, the metric itself for values."""
    targets = scorer.targets[rows]
    if problem == "multiclass":
        labels = targets[:, 0].astype(int)
        return lambda p: -np.log(np.clip(p[np.arange(len(p)), labels], EPS, None)).mean()
    if problem in ("binary", "multilabel"):
        return lambda p: -(targets * np.log(np.clip(p, EPS, 1)) + (1 - targets) * np.log(np.clip(1 - p, EPS, 1))).mean()
    sign = 1 if scorer.direction == "min" else -1
    return lambda p: sign * scorer(p, rows)


def fit_simplex(preds: list[np.ndarray], scorer: Scorer, rows: np.ndarray, problem: str) -> np.ndarray:
    """Non-negative weights summing to 1 (SLSQP) that minimize the surrogate loss on `rows`."""
    from scipy.optimize import minimize

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
    choice: dict | None = None  # auto: what it chose, every candidate's score, the gain's noise
    # blends any predictions of the members (all of them, in order) as `test` was blended:
    # the blend of each fold model alone (skp.ensemble.fold_pooling)
    apply_to: Callable[[list[np.ndarray]], np.ndarray] | None = field(default=None, repr=False)


def cv_groups(row_folds: np.ndarray) -> list[np.ndarray]:
    """Rows of each fold; with a single fold, five interleaved parts of it."""
    folds = np.unique(row_folds)
    if len(folds) > 1:
        return [np.flatnonzero(row_folds == f) for f in folds]
    index = np.arange(len(row_folds))
    return [index[i::5] for i in range(5)]


class Blend:
    """One blend method, as `recipe.blend` (`--blend`) names it. `fit(oofs, scorer, rows,
    problem, options)` fits on the OOF rows `rows` and returns what `apply(fitted, preds,
    problem)` needs to blend any rows; `weights(fitted)` are the per-member weights
    when the method has them. A method that learns from the rows is judged on folds its
    fit did not see (`run`).
    `in_auto`: a candidate of `auto`. A method that also blends segmentation masks
    overrides `mask_counts`. Subclasses register themselves in BLENDS: a new method is
    one class."""

    name: str
    learns = True  # False: nothing is learned from the rows, so the OOF blend is already honest
    in_auto = True
    oof_is_cross_validated = False  # the stacker: its fit on all rows would score itself

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:  # a shared base (Weighted) has none
            BLENDS[cls.name] = cls()

    def fit(self, oofs, scorer: Scorer, rows: np.ndarray, problem: str, options: dict):
        return None

    def apply(self, fitted, preds: list[np.ndarray], problem: str) -> np.ndarray:
        raise NotImplementedError

    def weights(self, fitted) -> np.ndarray | None:
        return None

    def mask_counts(self, sources: list, true) -> list[int]:
        """How many times each member counts in a mask blend (segmentation)."""
        raise SkpError(f"blend {self.name!r} cannot blend segmentation masks; use one of {', '.join(mask_blends())}.")

    def run(self, oofs, tests, scorer: Scorer, row_folds, problem: str, options: dict) -> BlendResult:
        everything = np.arange(len(oofs[0]))
        fitted = self.fit(oofs, scorer, everything, problem, options)
        test = self.apply(fitted, tests, problem)
        apply_to = partial(self.apply, fitted, problem=problem)
        if not self.learns:
            oof = self.apply(fitted, oofs, problem)
            return BlendResult(self.name, self.weights(fitted), oof, test, oof, apply_to=apply_to)
        cv_oof = np.zeros_like(oofs[0])
        for held_out in cv_groups(row_folds):
            fold_fit = self.fit(oofs, scorer, np.setdiff1d(everything, held_out), problem, options)
            cv_oof[held_out] = self.apply(fold_fit, [p[held_out] for p in oofs], problem)
        oof = cv_oof if self.oof_is_cross_validated else self.apply(fitted, oofs, problem)
        return BlendResult(self.name, self.weights(fitted), oof, test, cv_oof, apply_to=apply_to)


BLENDS: dict[str, Blend] = {}


# -- auto: the method and the members chosen by cross-validated score ---------------------
def fold_scores(pred: np.ndarray, scorer: Scorer, row_folds) -> np.ndarray:
    return np.array([scorer(pred[rows], rows) for rows in cv_groups(row_folds)])


def paired_gain(pred: np.ndarray, reference: np.ndarray, scorer: Scorer, row_folds) -> dict:
    """Fold by fold, how much `pred` beats `reference` (positive is better): the mean, its
    standard error over folds, and whether the mean is beyond twice that noise."""
    sign = 1.0 if scorer.direction == "max" else -1.0
    gains = sign * (fold_scores(pred, scorer, row_folds) - fold_scores(reference, scorer, row_folds))
    error = float(gains.std(ddof=1) / np.sqrt(len(gains))) if len(gains) > 1 else float("nan")
    mean = float(gains.mean())
    return {"fold_gains": [float(g) for g in gains], "mean": mean, "standard_error": error, "beyond_noise": bool(mean > 2 * error)}


class Auto(Blend):
    name = "auto"
    in_auto = False

    def run(self, oofs, tests, scorer, row_folds, problem, options) -> BlendResult:
        """The best of: the best member alone, and every method of auto_candidates() on the top
        2, 3, ..., K members by OOF score. Best by cross-validated OOF score; for log loss with
        every member's fold models' test predictions (options["fold_tests"]), best by the
        expected test score (CV minus what averaging the fold models buys on test,
        skp.ensemble.fold_pooling) among the candidates no worse on CV than the best member.
        Either way the choice is never worse than the best member on CV. Ties go to the
        candidate listed first: fewer members, simpler method. The chosen score is the best
        of many, so it is a little optimistic; test labels (or new folds) judge it without
        that bias."""
        scores = [scorer(p) for p in oofs]
        order = sorted(range(len(oofs)), key=lambda i: -scores[i] if scorer.direction == "max" else scores[i])
        best = order[0]
        fold_tests = options.get("fold_tests") if pooling_applies(options.get("fold_tests"), (scorer.metric, scorer.name), problem) else None
        alone = BlendResult("best member", None, oofs[best], tests[best], oofs[best], apply_to=lambda preds: preds[0])
        weighed = [(alone, [best])]
        for k in range(2, len(oofs) + 1):
            kept = order[:k]
            for method in auto_candidates():
                weighed.append((method.run([oofs[i] for i in kept], [tests[i] for i in kept], scorer, row_folds, problem, options), kept))
        candidates = []
        for result, kept in weighed:
            cv = scorer(result.cv_oof)
            entry = {"method": result.method, "members": len(kept), "cv": cv}
            if fold_tests is not None:
                entry["expected"] = cv - pooling_gain(result.apply_to, [fold_tests[i] for i in kept], problem)
            candidates.append(entry)
        at = _chosen(candidates, scorer, by_expected=fold_tests is not None)
        chosen, chosen_kept = weighed[at]
        weights = None  # the stacker has none
        if chosen.method != "stacker":
            weights = np.zeros(len(oofs))
            weights[chosen_kept] = 1 / len(chosen_kept) if chosen.weights is None else chosen.weights
        choice = {
            "method": chosen.method,
            "members": len(chosen_kept),
            "kept": [int(i) for i in chosen_kept],
            "by": "expected" if fold_tests is not None else "cv",
            "candidates": candidates,
            "gain_over_best_member": paired_gain(chosen.cv_oof, oofs[best], scorer, row_folds),
        }
        return BlendResult("auto", weights, chosen.oof, chosen.test, chosen.cv_oof, choice,
                           apply_to=partial(_apply_kept, chosen.apply_to, chosen_kept))

    def mask_counts(self, sources, true):
        # masks have no cross-validated choice among methods (yet): greedy's first round is
        # the best member alone, so it is never worse than that member on the OOF masks
        return BLENDS["greedy"].mask_counts(sources, true)


def _chosen(candidates: list[dict], scorer: Scorer, by_expected: bool) -> int:
    """The index of auto's choice; candidates[0] is the best member alone."""
    at = 0
    for i, candidate in enumerate(candidates):
        if by_expected:
            admissible = not scorer.better(candidates[0]["cv"], candidate["cv"])
            if admissible and candidate["expected"] < candidates[at]["expected"]:  # log loss: lower is better
                at = i
        elif scorer.better(candidate["cv"], candidates[at]["cv"]):
            at = i
    return at


def _apply_kept(apply_to, kept: list[int], preds: list[np.ndarray]) -> np.ndarray:
    return apply_to([preds[i] for i in kept])


def auto_candidates() -> list[Blend]:
    """Every method whose cross-validated OOF score is honest: weights (greedy, simplex)
    and the stacker are fitted on the other folds; mean, geometric and rank fit nothing."""
    return [method for method in BLENDS.values() if method.in_auto]


# -- the methods auto weighs, and power ---------------------------------------------
class Weighted(Blend):
    """A weighted mean of the members' predictions."""

    def apply(self, fitted, preds, problem):
        return weighted_mean(preds, fitted)

    def weights(self, fitted):
        return fitted


class Mean(Weighted):
    name = "mean"
    learns = False  # equal weights, whatever the rows

    def fit(self, oofs, scorer, rows, problem, options):
        return np.full(len(oofs), 1 / len(oofs))

    def mask_counts(self, sources, true):
        return [1] * len(sources)


class Geometric(Blend):
    name = "geometric"
    learns = False

    def apply(self, fitted, preds, problem):
        return power_mean(preds, 0.0, problem)


class Greedy(Weighted):
    name = "greedy"

    def fit(self, oofs, scorer, rows, problem, options):
        return fit_greedy(oofs, scorer, rows, options["rounds"])

    def mask_counts(self, sources, true):
        return greedy_weights(sources, true) if len(sources) > 1 else [1]


class Simplex(Weighted):
    name = "simplex"

    def fit(self, oofs, scorer, rows, problem, options):
        return fit_simplex(oofs, scorer, rows, problem)


class Rank(Blend):
    name = "rank"
    learns = False

    def apply(self, fitted, preds, problem):
        return rank_mean(preds, problem)


class Stacker(Blend):
    name = "stacker"
    oof_is_cross_validated = True

    def fit(self, oofs, scorer, rows, problem, options):
        width, members = oofs[0].shape[1], len(oofs)
        return _fit_stacker(_features([p[rows] for p in oofs], problem), scorer.targets[rows], problem, width, members)

    def apply(self, fitted, preds, problem):
        return _apply_stacker(fitted, _features(preds, problem), problem, preds[0].shape[1], len(preds))


class Power(Blend):
    name = "power"
    learns = False
    in_auto = False  # its exponent is the user's choice (recipe.power), not fitted

    def fit(self, oofs, scorer, rows, problem, options):
        return options["power"]

    def apply(self, fitted, preds, problem):
        return power_mean(preds, fitted, problem)


def mask_blends() -> list[str]:
    """The methods that blend segmentation masks (auto among them: greedy for masks)."""
    return [name for name, method in BLENDS.items() if type(method).mask_counts is not Blend.mask_counts]


def blend(method: str, oofs, tests, scorer: Scorer, row_folds, problem: str, power=2.0, rounds=50, fold_tests=None) -> BlendResult:
    """`fold_tests`: each member's fold models' test predictions, (checkpoints, N, K), which
    auto weighs its candidates by (log loss); None: by CV alone."""
    options = {"power": power, "rounds": rounds, "fold_tests": fold_tests}
    return choose(BLENDS, method, "blend").run(oofs, tests, scorer, row_folds, problem, options)
