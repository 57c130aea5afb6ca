"""The inference budget: members, TTA views and fold checkpoints that fit, never worse than one piece."""

import numpy as np
import pytest

from skp.ensemble.budget import apply_budget, candidates, pareto, piece_seconds, weighed
from skp.errors import SkpError
from skp.oof.fast_metrics import logloss
from skp.oof.scoring import Scorer
from tests.ensemble.test_fold_pooling import noisy_models

VIEWS = ["none", "hflip"]
ROWS, CLASSES, TEST = 300, 4, 50


class Member:
    def __init__(self, name):
        self.name, self.oof, self.test = name, None, None


def probabilities(truth, noise):
    logits = np.log(truth) + noise
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def views_of_one_model(rng, truth, skill) -> dict:
    """A model's predictions under each view: the true log-probabilities plus the model's
    own noise, which shrinks with skill; the flipped view sees a little less of it."""
    noise = rng.normal(0, 2 / skill, truth.shape)
    return {v: probabilities(truth, noise * (0.9 if v == "hflip" else 1.0)) for v in VIEWS}


@pytest.fixture
def setup():
    rng = np.random.default_rng(0)
    truth = {rows: rng.dirichlet(np.full(CLASSES, 0.3), rows) for rows in (ROWS, TEST)}
    targets = np.array([rng.choice(CLASSES, p=p) for p in truth[ROWS]])  # labels drawn from the truth
    skills, model_seconds = (2.0, 1.6, 1.2), (0.004, 0.002, 0.001)  # the best member is the slowest
    members, pieces, costs = [], {}, []
    for i, (skill, seconds) in enumerate(zip(skills, model_seconds)):
        member = Member(f"m{i}")
        members.append(member)
        checkpoints = [views_of_one_model(rng, truth[TEST], skill) for _ in range(5)]
        pieces[member.name] = {
            "oof": views_of_one_model(rng, truth[ROWS], skill),  # one model per row
            "test": {v: [checkpoint[v] for checkpoint in checkpoints] for v in VIEWS},
        }
        costs.append({"views": {v: {"load": 0.0005, "models": [seconds] * 5} for v in VIEWS}, "seconds_per_image": 0, "device": "cpu"})
    scorer = Scorer("logloss", "min", "multiclass", targets[:, None], "classification.LogLoss")
    return members, pieces, costs, scorer


@pytest.mark.parametrize("budget", [0.08, 0.15, 0.3, 0.6, 2.0])
def test_the_choice_fits_and_never_loses_to_a_single_piece_that_fits(setup, budget):
    members, pieces, costs, scorer = setup
    chosen, summary = apply_budget(list(members), pieces, costs, VIEWS, scorer, budget, TEST)
    assert summary["chosen"]["seconds"] <= budget
    found, _ = candidates([pieces[m.name] for m in members], costs, VIEWS, scorer, budget, TEST)
    singles = [c for c in found if len(c.members) == 1]
    assert all(weighed(summary["chosen"]) <= c.value for c in singles)  # log loss: the expected test score
    # the chosen pieces are what the blend gets: mean over views of the first C checkpoints
    first = chosen[0]
    views, checkpoints = summary["chosen"]["views"], summary["chosen"]["checkpoints"]
    expected = np.mean([np.mean(pieces[first.name]["test"][v][:checkpoints], axis=0) for v in views], axis=0)
    np.testing.assert_allclose(first.test, expected)


def test_more_time_never_scores_worse_and_a_large_budget_takes_everything(setup):
    members, pieces, costs, scorer = setup
    scores = [weighed(apply_budget(list(members), pieces, costs, VIEWS, scorer, b, TEST)[1]["chosen"]) for b in (0.08, 0.15, 0.3, 0.6, 2.0)]
    assert scores == sorted(scores, reverse=True)  # log loss: lower is better
    _, summary = apply_budget(list(members), pieces, costs, VIEWS, scorer, 10.0, TEST)
    assert summary["chosen"]["checkpoints"] == 5 and summary["chosen"]["views"] == VIEWS
    assert not summary["over_budget"]
    front = pareto(summary, "min")
    assert [c["seconds"] for c in front] == sorted(c["seconds"] for c in front)


def test_cost_of_a_piece():
    cost = {"views": {"none": {"load": 0.001, "models": [0.01, 0.02]}, "hflip": {"load": 0.001, "models": [0.01, 0.02]}}}
    assert piece_seconds(cost, ["none"], 1, 100) == pytest.approx(1.1)
    assert piece_seconds(cost, VIEWS, 2, 100) == pytest.approx(6.2)


def test_too_small_a_budget_or_an_unmeasured_member_is_refused(setup):
    members, pieces, costs, scorer = setup
    with pytest.raises(SkpError, match=r"No member fits the inference budget of 0.01 s.*cheapest .* takes 0.075 s"):
        apply_budget(list(members), pieces, costs, VIEWS, scorer, 0.01, TEST)
    with pytest.raises(SkpError, match="m1 has none"):
        apply_budget(list(members), pieces, [costs[0], None, costs[2]], VIEWS, scorer, 1.0, TEST)


def test_the_budget_weighs_fold_checkpoints_against_members_by_the_expected_test_score():
    """Near-copies (little bias of their own) with noisy fold models, the best the least
    noisy, as a study's top trials: at the cost of three models, the best member with
    three checkpoints beats three members with one on test, though CV (one model per row
    either way) prefers the three members. The budget takes the former."""
    oofs, fold_tests, targets, _, test_labels = noisy_models(fold_noise=(0.8, 1.2, 1.2), bias=0.1)
    members = [Member(f"m{i}") for i in range(3)]
    pieces = {m.name: {"oof": {"none": oof}, "test": {"none": list(tests)}} for m, oof, tests in zip(members, oofs, fold_tests)}
    costs = [{"views": {"none": {"load": 0.0, "models": [0.001] * 5}}} for _ in members]
    scorer = Scorer("logloss", "min", "multiclass", targets[:, None], "classification.LogLoss")
    images = len(test_labels)
    chosen, summary = apply_budget(list(members), pieces, costs, ["none"], scorer, 3 * 0.001 * images, images)

    def test_loss(candidate):
        names = candidate["members"]
        pred = np.mean([np.mean(pieces[n]["test"]["none"][: candidate["checkpoints"]], axis=0) for n in names], axis=0)
        return logloss(pred, test_labels[:, None], "multiclass")

    by_oof = min(summary["candidates"], key=lambda c: c["score"])
    assert (len(by_oof["members"]), by_oof["checkpoints"]) == (3, 1)
    assert (len(summary["chosen"]["members"]), summary["chosen"]["checkpoints"]) == (1, 3)
    assert test_loss(summary["chosen"]) == min(test_loss(c) for c in summary["candidates"]) < test_loss(by_oof)


def test_without_log_loss_the_budget_weighs_the_oof_score(setup):
    members, pieces, costs, _ = setup
    targets = np.argmax(pieces["m0"]["oof"]["none"], 1)  # any labels: only the choice rule is checked
    accuracy = Scorer("accuracy", "max", "multiclass", targets[:, None], "classification.Accuracy")
    _, summary = apply_budget(list(members), pieces, costs, VIEWS, accuracy, 0.6, TEST)
    assert summary["chosen"]["expected"] is None
    assert summary["chosen"]["score"] == max(c["score"] for c in summary["candidates"])
