"""The inference budget: members, TTA views and fold checkpoints that fit, never worse than one piece."""

import numpy as np
import pytest

from skp.ensemble.budget import apply_budget, candidates, pareto, piece_seconds
from skp.errors import SkpError
from skp.oof.scoring import Scorer

VIEWS = ["none", "hflip"]
ROWS, CLASSES, TEST = 300, 4, 50


class Member:
    def __init__(self, name):
        self.name, self.oof, self.test = name, None, None


def probabilities(rng, targets, skill):
    logits = rng.normal(0, 1, (len(targets), CLASSES))
    logits[np.arange(len(targets)), targets] += skill
    p = np.exp(logits)
    return p / p.sum(1, keepdims=True)


@pytest.fixture
def setup():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, CLASSES, ROWS)
    skills, model_seconds = (2.0, 1.6, 1.2), (0.004, 0.002, 0.001)  # the best member is the slowest
    members, pieces, costs = [], {}, []
    for i, (skill, seconds) in enumerate(zip(skills, model_seconds)):
        member = Member(f"m{i}")
        members.append(member)
        pieces[member.name] = {
            "oof": {v: probabilities(rng, targets, skill + 0.2 * (v == "hflip")) for v in VIEWS},
            "test": {v: [rng.dirichlet(np.ones(CLASSES), TEST) for _ in range(5)] for v in VIEWS},
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
    assert all(summary["chosen"]["score"] <= c.score for c in singles)
    # the chosen pieces are what the blend gets: mean over views of the first C checkpoints
    first = chosen[0]
    views, checkpoints = summary["chosen"]["views"], summary["chosen"]["checkpoints"]
    expected = np.mean([np.mean(pieces[first.name]["test"][v][:checkpoints], axis=0) for v in views], axis=0)
    np.testing.assert_allclose(first.test, expected)


def test_more_time_never_scores_worse_and_a_large_budget_takes_everything(setup):
    members, pieces, costs, scorer = setup
    scores = [apply_budget(list(members), pieces, costs, VIEWS, scorer, b, TEST)[1]["chosen"]["score"] for b in (0.08, 0.15, 0.3, 0.6, 2.0)]
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
