"""The successive-halving replay behind issue 22's rung figures picks and charges as the
pruners would (a wrong pick or a wrong epoch count would misstate what a fidelity saves)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_rung_replay import halve, ladders, replay  # noqa: E402


def trained(index: int, full: int, rungs: dict, chain: dict, history: list) -> dict:
    """One set's schedules as bench_rung_fidelity.py records them."""
    entries = {f"{index}|{length}": {"full": full, "selected": value, "values": []} for length, value in rungs.items()}
    entries[f"{index}|{full}"]["values"] = history
    entries.update({f"{index}|c{length}": {"full": full, "selected": value} for length, value in chain.items()})
    return entries


def pool() -> dict:
    """Three 10-epoch sets: from scratch rungs 3 and 10, continued 3, 9 and 10. Set 2 ends
    best but learns slowest: its short schedules and its early epochs look worst, and its
    continued chain ends behind set 1's."""
    results = {}
    for index, (short, final, chained, early) in enumerate([(0.50, 0.40, 0.41, 0.9), (0.60, 0.35, 0.36, 0.8), (0.70, 0.30, 0.37, 1.0)]):
        results.update(trained(index, 10, {3: short, 10: final}, {3: short, 9: short - 0.05 * index, 10: chained},
                               [early] * 9 + [final]))
    return results


def test_a_set_missing_a_schedule_its_pruners_train_is_left_out():
    results = pool()
    del results["1|c9"]
    assert sorted(ladders(results, 3, 3)) == [0, 2]
    assert ladders(results, 3, 3)[0] == {"scratch": [3, 10], "continued": [3, 9, 10], "in-run": [3, 9, 10]}


def test_scratch_rungs_pay_every_rung_and_continued_ones_only_the_new_epochs():
    results = pool()
    ladder = ladders(results, 3, 3)
    # all three at 3 epochs, the best third (set 0) then at its 10 from scratch
    assert halve(results, [0, 1, 2], ladder, "scratch", 3, 1.0) == (0, 3 * 3 + 10)
    # continued: set 0 on to 9, then to 10
    assert halve(results, [0, 1, 2], ladder, "continued", 3, 1.0) == (0, 3 * 3 + 6 + 1)
    # epoch 3 of the full runs ranks set 1 first; it trains on to its 10th epoch
    assert halve(results, [0, 1, 2], ladder, "in-run", 3, 1.0) == (1, 3 * 3 + 7)


def test_a_lone_survivor_trains_to_its_end_and_a_larger_value_wins_when_maximizing():
    results = pool()
    ladder = ladders(results, 3, 3)
    assert halve(results, [1], ladder, "continued", 3, 1.0) == (1, 10)
    assert halve(results, [0, 1, 2], ladder, "scratch", 3, -1.0) == (2, 3 * 3 + 10)


def test_the_table_reports_regret_against_the_groups_best_final_from_scratch():
    rows = {row["fidelity"]: row for row in replay(pool(), group_size=3)}
    assert rows["scratch"]["found"] == 0 and abs(rows["scratch"]["regret"] - 0.10) < 1e-9
    assert abs(rows["scratch"]["compute"] - 19 / 30) < 1e-9
    assert abs(rows["continued"]["own_regret"] - 0.11) < 1e-9
    assert abs(rows["in-run"]["regret"] - 0.05) < 1e-9
