"""The blend's gain expected on test, where each member is already the mean of its fold models."""

import numpy as np
import pytest

from skp.ensemble.blend import blend
from skp.ensemble.fold_pooling import expected_test_gain
from skp.oof.fast_metrics import logloss
from skp.oof.scoring import Scorer

FOLDS, CLASSES, ROWS = 5, 4, 20_000
LOG_LOSS = ("classification.LogLoss", "logloss")


def softmax(logits):
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def noisy_models(fold_noise, seed: int = 0, bias: float = 0.5):
    """Three members: each model sees the true log-probabilities plus its member's own
    bias (standard deviation `bias`, one value or one per member) and, per fold model, noise of `fold_noise` (one
    value, or one per member). OOF rows are predicted by one fold model; test rows by all
    five. Returns oofs, fold test predictions, OOF labels, row folds, test labels."""
    noises = fold_noise if isinstance(fold_noise, tuple) else (fold_noise,) * 3
    biases = bias if isinstance(bias, tuple) else (bias,) * len(noises)
    rng = np.random.default_rng(seed)
    truth = {part: softmax(rng.normal(0, 2.0, (ROWS, CLASSES))) for part in ("oof", "test")}
    labels = {part: np.array([rng.choice(CLASSES, p=p) for p in truth[part]]) for part in truth}
    row_folds = np.arange(ROWS) % FOLDS
    oofs, fold_tests = [], []
    for noise, bias in zip(noises, biases):
        own = {part: rng.normal(0, bias, (ROWS, CLASSES)) for part in truth}
        oofs.append(softmax(np.log(truth["oof"]) + own["oof"] + rng.normal(0, noise, (ROWS, CLASSES))))
        fold_tests.append(np.stack([softmax(np.log(truth["test"]) + own["test"] + rng.normal(0, noise, (ROWS, CLASSES)))
                                    for _ in range(FOLDS)]))
    return oofs, fold_tests, labels["oof"], row_folds, labels["test"]


def estimate(oofs, fold_tests, targets, row_folds, method="geometric"):
    scorer = Scorer("logloss", "min", "multiclass", targets[:, None], LOG_LOSS[0])
    result = blend(method, oofs, [member.mean(0) for member in fold_tests], scorer, row_folds, "multiclass")
    scores = [scorer(oof) for oof in oofs]
    best = int(np.argmin(scores))
    cv_gain = scores[best] - scorer(result.cv_oof)
    return result, best, cv_gain, expected_test_gain(result, fold_tests, best, cv_gain, LOG_LOSS, "multiclass")


def test_the_expected_test_gain_tracks_the_test_gain_where_cv_overstates_it():
    oofs, fold_tests, targets, row_folds, test_labels = noisy_models(fold_noise=1.0)
    result, best, cv_gain, expected = estimate(oofs, fold_tests, targets, row_folds)
    test_gain = logloss(fold_tests[best].mean(0), test_labels[:, None], "multiclass") - logloss(result.test, test_labels[:, None], "multiclass")
    # the fold noise is most of what blending removes on CV; on test five fold models have
    # averaged most of it already
    assert cv_gain > 2 * test_gain > 0
    assert expected["expected_test_gain"] == pytest.approx(test_gain, abs=0.25 * (cv_gain - test_gain))
    assert expected["checkpoints"] == FOLDS
    assert expected["pooling_gain_best_member"] > expected["pooling_gain_blend"] > 0


def test_without_fold_noise_the_expected_gain_is_the_cv_gain():
    oofs, fold_tests, targets, row_folds, _ = noisy_models(fold_noise=0.0)
    fold_tests = [np.repeat(member[:1], FOLDS, axis=0) for member in fold_tests]  # five identical fold models
    _, _, cv_gain, expected = estimate(oofs, fold_tests, targets, row_folds, method="auto")
    assert expected["pooling_gain_blend"] == pytest.approx(0, abs=1e-9)
    assert expected["expected_test_gain"] == pytest.approx(cv_gain)


def test_auto_chooses_by_the_expected_test_score_when_it_has_the_fold_models():
    """One good member and two noisier, more biased ones: on CV (one model per row) blending
    all three removes much fold noise, which the five fold models average away on test."""
    oofs, fold_tests, targets, row_folds, test_labels = noisy_models(fold_noise=1.5, bias=(0.3, 0.8, 0.8))
    scorer = Scorer("logloss", "min", "multiclass", targets[:, None], LOG_LOSS[0])
    tests = [member.mean(0) for member in fold_tests]
    by_cv = blend("auto", oofs, tests, scorer, row_folds, "multiclass")
    by_expected = blend("auto", oofs, tests, scorer, row_folds, "multiclass", fold_tests=fold_tests)
    assert (by_cv.choice["by"], by_expected.choice["by"]) == ("cv", "expected")
    on_test = {name: logloss(result.test, test_labels[:, None], "multiclass") for name, result in (("cv", by_cv), ("expected", by_expected))}
    assert on_test["expected"] < on_test["cv"] - 0.005
    candidates = by_expected.choice["candidates"]
    best_alone = candidates[0]["cv"]
    assert scorer(by_expected.cv_oof) <= best_alone  # still never worse than the best member on CV
    chosen = next(c for c in candidates if (c["method"], c["members"]) == (by_expected.choice["method"], by_expected.choice["members"]))
    assert chosen["expected"] == min(c["expected"] for c in candidates if c["cv"] <= best_alone)


def test_no_estimate_without_fold_models_or_for_another_metric():
    oofs, fold_tests, targets, row_folds, _ = noisy_models(fold_noise=1.0)
    result, best, cv_gain, _ = estimate(oofs, fold_tests, targets, row_folds)
    one_model = [member[:1] for member in fold_tests]  # a soup, or checkpoints=1
    assert expected_test_gain(result, one_model, best, cv_gain, LOG_LOSS, "multiclass") is None
    assert expected_test_gain(result, None, best, cv_gain, LOG_LOSS, "multiclass") is None  # predictions from files
    accuracy = ("classification.Accuracy", "accuracy")
    assert expected_test_gain(result, fold_tests, best, cv_gain, accuracy, "multiclass") is None


@pytest.mark.parametrize("problem", ["multiclass", "binary", "multilabel"])
def test_the_pooling_gain_is_exact_for_geometric_pooling_whatever_the_labels(problem):
    """mean over k of log loss(X_k) - log loss(normalized geometric mean of X_k) = -log Z,
    for any labels: the estimate needs none."""
    from skp.ensemble.fold_pooling import pooling_gain

    rng = np.random.default_rng(1)
    width = {"multiclass": CLASSES, "binary": 1, "multilabel": 3}[problem]
    if problem == "multiclass":
        folds = np.stack([softmax(rng.normal(0, 2, (500, width))) for _ in range(FOLDS)])
        pooled = softmax(np.log(folds).mean(0))
        labels = rng.integers(0, width, (500, 1))
    else:
        folds = 1 / (1 + np.exp(-rng.normal(0, 2, (FOLDS, 500, width))))
        yes, no = np.exp(np.log(folds).mean(0)), np.exp(np.log1p(-folds).mean(0))
        pooled = yes / (yes + no)
        labels = rng.integers(0, 2, (500, width))
    gain = np.mean([logloss(f, labels, problem) for f in folds]) - logloss(pooled, labels, problem)
    assert pooling_gain(lambda preds: preds[0], [folds], problem) == pytest.approx(gain, rel=1e-9)


def test_fold_predictions_too_large_to_keep_are_said_and_not_estimated(monkeypatch, capsys):
    from types import SimpleNamespace

    from skp.ensemble import pipeline

    members = [SimpleNamespace(name=name) for name in ("a", "b")]
    pieces = {name: {"test": {"none": [np.full((100, CLASSES), 0.25)] * FOLDS}} for name in ("a", "b")}
    stacked = pipeline.fold_tests(members, pieces)
    assert [s.shape for s in stacked] == [(FOLDS, 100, CLASSES)] * 2
    assert pipeline.fold_tests(members, {"a": pieces["a"]}) is None  # b's predictions came from files
    monkeypatch.setattr(pipeline, "FOLD_TESTS_LIMIT_BYTES", 1000)
    assert pipeline.fold_tests(members, pieces) is None
    assert "the blend's expected test gain is not estimated" in capsys.readouterr().out
