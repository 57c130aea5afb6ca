"""Greedy forward selection, the one loop behind greedy blends, mask blends and promotion."""

from skp.oof.selection import best_prefix, forward_selection


def _select(values, target, rounds, **kwargs):
    """Pick values whose running mean comes closest to `target` (lower is better)."""
    chosen = []

    def score_if_added(i):
        return abs(sum(values[j] for j in chosen + [i]) / (len(chosen) + 1) - target)

    return forward_selection(len(values), score_if_added, chosen.append, lambda a, b: a < b, rounds, **kwargs)


def test_repeats_let_a_member_count_twice_and_the_best_prefix_is_kept():
    picks = _select([0.0, 3.0, 10.0], target=2.0, rounds=4)
    assert [i for i, _ in picks] == [1, 0, 1, 1]  # 3, then 1.5, then 2, then 2.25
    assert best_prefix(picks, lambda a, b: a < b) == [1, 0, 1]


def test_without_repeats_each_candidate_is_picked_once_and_rounds_stop_when_none_is_left():
    picks = _select([0.0, 3.0, 10.0], target=2.0, rounds=5, repeats=False)
    assert sorted(i for i, _ in picks) == [0, 1, 2]


def test_stop_early_ends_at_the_first_round_that_does_not_improve():
    picks = _select([0.0, 3.0, 10.0], target=3.0, rounds=5, stop_early=True)
    assert [i for i, _ in picks] == [1]  # adding anything to 3 moves the mean away from 3
