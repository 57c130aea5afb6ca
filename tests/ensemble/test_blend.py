"""Blend methods on real prediction sets: scikit-learn models' OOF predictions on digits."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

from skp.configs import Config, load_config
from skp.ensemble.blend import (
    blend,
    cv_groups,
    fit_greedy,
    fit_simplex,
    power_mean,
    rank_mean,
    weighted_mean,
)
from skp.errors import SkpError
from skp.oof.scoring import make_scorer, problem_of


@pytest.fixture(scope="module")
def digits_members():
    """OOF class probabilities of four scikit-learn models on 600 real digits (5 folds)."""
    x, y = load_digits(return_X_y=True)
    x, y = x[:600] / 16, y[:600]
    folds = np.zeros(len(y), int)
    for fold, (_, val) in enumerate(StratifiedKFold(5, shuffle=True, random_state=0).split(x, y)):
        folds[val] = fold
    cv = [(np.flatnonzero(folds != f), np.flatnonzero(folds == f)) for f in range(5)]
    models = {
        "logreg": LogisticRegression(C=0.05, max_iter=500),
        "nb": GaussianNB(),
        "knn": KNeighborsClassifier(15),
        "tree": DecisionTreeClassifier(max_depth=6, random_state=0),
    }
    oofs = {name: cross_val_predict(model, x, y, cv=cv, method="predict_proba") for name, model in models.items()}
    return oofs, y[:, None].astype(float), folds


def classification_scorer(targets, pred, metric="accuracy", direction="max"):
    """Accuracy unless told otherwise: the blends below are checked on a metric to maximize."""
    cfg = load_config("digits.cfg_baseline")
    return make_scorer(cfg, "multiclass", metric, direction, pred, targets)


def regression_cfg():
    cfg = Config()
    cfg.loss, cfg.metrics = "classification.L1Loss", ["regression.MAE"]
    cfg.val_metric, cfg.val_track = "mae", "min"
    return cfg


def test_problem_follows_the_loss_activation():
    assert problem_of(load_config("digits.cfg_baseline"), 10) == "multiclass"
    assert problem_of(regression_cfg(), 1) == "regression"
    cfg = regression_cfg()
    cfg.loss = "classification.BCEWithLogitsLoss"
    assert problem_of(cfg, 1) == "binary" and problem_of(cfg, 3) == "multilabel"


def test_scorer_reproduces_the_members_metric(digits_members):
    oofs, targets, _ = digits_members
    scorer = classification_scorer(targets, oofs["logreg"])
    expected = (oofs["logreg"].argmax(1) == targets[:, 0]).mean()
    assert scorer(oofs["logreg"]) == pytest.approx(expected, abs=1e-6)
    members = classification_scorer(targets, oofs["logreg"], None, None)  # digits' val_metric: log loss
    log_loss = -np.log(oofs["logreg"][np.arange(len(targets)), targets[:, 0].astype(int)]).mean()
    assert members.direction == "min" and members(oofs["logreg"]) == pytest.approx(log_loss, rel=1e-4)
    auc = classification_scorer(targets, oofs["logreg"], "auc", "max")
    assert 0.9 < auc(oofs["logreg"]) <= 1.0


def test_scorer_needs_a_direction_for_another_metric_and_a_known_name(digits_members):
    oofs, targets, _ = digits_members
    with pytest.raises(SkpError, match="direction='max'"):
        classification_scorer(targets, oofs["nb"], "auc", None)
    with pytest.raises(SkpError, match="No skp metric gives a value named 'kappa'"):
        classification_scorer(targets, oofs["nb"], "kappa", "max")


def test_mean_of_identical_members_is_that_member(digits_members):
    oofs, _, _ = digits_members
    p = oofs["knn"]
    np.testing.assert_allclose(weighted_mean([p, p, p], np.ones(3)), p)
    np.testing.assert_allclose(power_mean([p, p], 1.0, "multiclass"), p / p.sum(1, keepdims=True), atol=1e-6)


def test_geometric_mean_by_hand():
    a = np.array([[0.8, 0.2], [0.5, 0.5]])
    b = np.array([[0.2, 0.8], [0.5, 0.5]])
    blended = power_mean([a, b], 0.0, "multiclass")
    np.testing.assert_allclose(blended, [[0.5, 0.5], [0.5, 0.5]])
    c = np.array([[0.9, 0.1], [0.6, 0.4]])
    expected = np.sqrt(a * c)
    np.testing.assert_allclose(power_mean([a, c], 0.0, "multiclass"), expected / expected.sum(1, keepdims=True))
    np.testing.assert_allclose(power_mean([a, c], 2.0, "binary"), np.sqrt((a**2 + c**2) / 2))


def test_rank_mean_keeps_a_shared_ordering():
    p = np.array([[0.1], [0.7], [0.3], [0.9]])
    np.testing.assert_allclose(rank_mean([p, p**3], "binary"), [[0.25], [0.75], [0.5], [1.0]])


@pytest.mark.parametrize("names", [("logreg", "nb", "knn", "tree"), ("nb", "tree"), ("tree", "knn", "nb")])
def test_greedy_is_never_worse_on_oof_than_its_best_member(digits_members, names):
    oofs, targets, _ = digits_members
    preds = [oofs[n] for n in names]
    scorer = classification_scorer(targets, preds[0])
    rows = np.arange(len(targets))
    weights = fit_greedy(preds, scorer, rows, rounds=25)
    assert weights.sum() == pytest.approx(1.0) and (weights >= 0).all()
    assert scorer(weighted_mean(preds, weights)) >= max(scorer(p) for p in preds)


def test_greedy_and_simplex_ignore_a_useless_member(digits_members):
    oofs, targets, _ = digits_members
    noise = np.random.default_rng(0).dirichlet(np.ones(10), len(targets))
    preds = [oofs["logreg"], noise]
    scorer = classification_scorer(targets, preds[0])
    rows = np.arange(len(targets))
    assert fit_greedy(preds, scorer, rows, rounds=20)[1] == 0.0
    weights = fit_simplex(preds, scorer, rows, "multiclass")
    assert weights.sum() == pytest.approx(1.0) and weights[0] > 0.9


def test_simplex_fits_regression_weights_on_the_metric():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(400, 1))
    good, bad = y + rng.normal(0, 0.1, y.shape), y + rng.normal(0, 1.0, y.shape)
    cfg = regression_cfg()
    scorer = make_scorer(cfg, "regression", None, None, good, y)
    assert scorer.direction == "min"
    weights = fit_simplex([good, bad], scorer, np.arange(len(y)), "regression")
    assert weights[0] > 0.9
    assert scorer(weighted_mean([good, bad], weights)) <= scorer(good) + 1e-9


def test_every_method_blends_and_scores(digits_members):
    oofs, targets, folds = digits_members
    preds = [oofs["logreg"], oofs["nb"], oofs["knn"]]
    tests = [p[:50] for p in preds]
    scorer = classification_scorer(targets, preds[0])
    worst = min(scorer(p) for p in preds)
    for method in ("mean", "greedy", "simplex", "rank", "geometric", "power", "stacker"):
        result = blend(method, preds, tests, scorer, folds, "multiclass", power=2.0, rounds=10)
        assert result.oof.shape == preds[0].shape and result.test.shape == (50, 10)
        assert np.isfinite(result.test).all()
        assert scorer(result.cv_oof) >= worst, method
        if method in ("mean", "greedy", "simplex", "geometric", "power", "stacker"):
            np.testing.assert_allclose(result.test.sum(1), 1.0, atol=1e-6)


def test_stacker_predictions_are_cross_validated(digits_members):
    oofs, targets, folds = digits_members
    preds = [oofs["nb"], oofs["knn"]]
    scorer = classification_scorer(targets, preds[0])
    result = blend("stacker", preds, [p[:10] for p in preds], scorer, folds, "multiclass")
    assert scorer(result.cv_oof) >= max(scorer(p) for p in preds) - 0.02
    # fold 0's stacked predictions never saw fold 0's labels: scrambling them changes nothing
    scrambled = targets.copy()
    scrambled[folds == 0] = (scrambled[folds == 0] + 3) % 10
    other = blend("stacker", preds, [p[:10] for p in preds], classification_scorer(scrambled, preds[0]), folds, "multiclass")
    np.testing.assert_allclose(other.cv_oof[folds == 0], result.cv_oof[folds == 0])
    assert not np.allclose(other.cv_oof[folds == 1], result.cv_oof[folds == 1])


def test_regression_stacker_recovers_a_linear_combination():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 1)), rng.normal(size=(300, 1))
    y = 0.7 * a + 0.3 * b
    scorer = make_scorer(regression_cfg(), "regression", None, None, a, y)
    result = blend("stacker", [a, b], [a[:5], b[:5]], scorer, np.arange(300) % 5, "regression")
    np.testing.assert_allclose(result.test, y[:5], atol=1e-2)


def test_single_fold_blends_are_cross_validated_in_five_parts():
    groups = cv_groups(np.zeros(23, int))
    assert len(groups) == 5 and sorted(np.concatenate(groups)) == list(range(23))
    assert len(cv_groups(np.array([0, 1, 1, 2]))) == 3


def test_multilabel_members_blend_with_auc():
    rng = np.random.default_rng(2)
    targets = (rng.random((300, 3)) > 0.5).astype(float)
    good = np.clip(targets * 0.6 + rng.random((300, 3)) * 0.4, 0, 1)
    weak = np.clip(targets * 0.2 + rng.random((300, 3)) * 0.8, 0, 1)
    cfg = Config()
    cfg.loss, cfg.metrics, cfg.val_metric, cfg.val_track = "classification.BCEWithLogitsLoss", ["classification.AUROC"], "auc", "max"
    scorer = make_scorer(cfg, "multilabel", None, None, good, targets)
    for method in ("mean", "greedy", "rank", "stacker"):
        result = blend(method, [good, weak], [good, weak], scorer, np.arange(300) % 5, "multilabel", rounds=10)
        assert result.test.shape == (300, 3)
        assert scorer(result.cv_oof) > scorer(weak)


# -- auto -------------------------------------------------------------------------------
def _logloss_scorer(targets, pred):
    return classification_scorer(targets, pred, "logloss", "min")


def test_auto_blends_members_that_complement_each_other(digits_members):
    oofs, targets, folds = digits_members
    preds = [oofs["logreg"], oofs["knn"], oofs["nb"]]
    scorer = _logloss_scorer(targets, preds[0])
    result = blend("auto", preds, [p[:20] for p in preds], scorer, folds, "multiclass", rounds=10)
    choice = result.choice
    assert choice["members"] >= 2 and choice["method"] != "best member"
    best_alone = min(scorer(p) for p in preds)
    assert scorer(result.cv_oof) < best_alone
    # every candidate is scored: the best member alone, and each method on the top 2 and top 3
    assert len(choice["candidates"]) == 1 + 2 * 6
    assert scorer(result.cv_oof) == pytest.approx(min(c["cv"] for c in choice["candidates"]))
    gain = choice["gain_over_best_member"]
    assert len(gain["fold_gains"]) == 5 and gain["mean"] > 0


def test_auto_keeps_the_best_member_alone_when_no_blend_beats_it(digits_members):
    """Crafted: labels drawn from one member's probabilities (so it is perfectly calibrated);
    the others are it blurred towards uniform, so any mix or re-calibration of it is worse."""
    _, _, folds = digits_members
    rng = np.random.default_rng(0)
    calibrated = rng.dirichlet(np.full(10, 0.3), size=len(folds))
    labels = np.array([rng.choice(10, p=row) for row in calibrated])
    blurred = [0.5 * calibrated + 0.05, 0.3 * calibrated + 0.07]
    preds = [blurred[0], calibrated, blurred[1]]
    scorer = _logloss_scorer(labels[:, None].astype(float), calibrated)
    result = blend("auto", preds, [p[:20] for p in preds], scorer, folds, "multiclass", rounds=10)
    assert result.choice["method"] == "best member" and result.choice["kept"] == [1]
    np.testing.assert_array_equal(result.test, calibrated[:20])
    assert result.weights.tolist() == [0.0, 1.0, 0.0]
    assert result.choice["gain_over_best_member"]["mean"] == 0.0


@pytest.mark.parametrize("seed", range(6))
def test_auto_is_never_worse_on_cv_than_its_best_member(digits_members, seed):
    """Random members (noisy, overconfident, miscalibrated), scored by log loss and accuracy."""
    oofs, targets, folds = digits_members
    rng = np.random.default_rng(seed)
    names = rng.choice(list(oofs), size=rng.integers(2, 5), replace=False)
    preds = []
    for name in names:
        noisy = np.clip(oofs[name] + rng.normal(0, rng.uniform(0, 0.3), oofs[name].shape), 1e-4, None) ** rng.uniform(0.5, 3)
        preds.append(noisy / noisy.sum(1, keepdims=True))
    for metric, direction in (("logloss", "min"), ("accuracy", "max")):
        scorer = classification_scorer(targets, preds[0], metric, direction)
        result = blend("auto", preds, [p[:10] for p in preds], scorer, folds, "multiclass", rounds=10)
        best = min(scorer(p) for p in preds) if direction == "min" else max(scorer(p) for p in preds)
        assert not scorer.better(best, scorer(result.cv_oof)), (metric, result.choice["method"])


@pytest.fixture
def median_blend():
    """A blend method added as one class, as a user or a contributor would."""
    from skp.ensemble.blend import BLENDS, Blend

    class MedianBlend(Blend):
        name = "median"
        learns = False

        def apply(self, fitted, preds, problem):
            blended = np.median(np.stack(preds), axis=0)
            return blended / blended.sum(1, keepdims=True)

    yield MedianBlend
    del BLENDS["median"]


def test_a_blend_method_is_one_class_and_every_entry_point_takes_it(median_blend, digits_members):
    from skp.ensemble.cli import build_parser
    from skp.ensemble.recipe import Recipe, Run, check_recipe

    oofs, targets, folds = digits_members
    preds = list(oofs.values())
    scorer = classification_scorer(targets, preds[0], "logloss", "min")
    result = blend("median", preds, preds, scorer, folds, "multiclass")
    assert result.method == "median" and np.allclose(result.oof.sum(1), 1)
    auto = blend("auto", preds, preds, scorer, folds, "multiclass", rounds=10)
    assert {"method": "median", "members": 4} in [{k: c[k] for k in ("method", "members")} for c in auto.choice["candidates"]]
    assert build_parser().parse_args(["digits.ens_baseline", "--blend", "median"]).blend == "median"
    check_recipe(Recipe(name="r", members=[Run("digits.cfg_baseline")], blend="median"))
