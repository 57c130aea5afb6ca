"""The pruner replay behind the "Search efficiency" tables charges and stops as skp's
pruners would: a wrong epoch count or a pruned last epoch would misstate what a pruner
saves, and an unnamed study would draw other Hyperband brackets on every run."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_pruner_replay import oracle, replay, settings  # noqa: E402


def curves() -> list:
    """Six 4-epoch trials in the order they ran: a good one, four bad ones that stay bad,
    then the best, which starts as the worst (a warm-up's high learning rate)."""
    good = ([0.9, 0.6, 0.5, 0.4], 0.4)
    bad = [([1.0 + k / 10, 0.9 + k / 10, 0.85 + k / 10, 0.8 + k / 10], 0.8 + k / 10) for k in range(4)]
    best = ([2.0, 1.5, 0.45, 0.2], 0.2)
    return [good, *bad, best]


def test_unpruned_search_pays_every_epoch_and_reaches_the_target_at_its_best_trial():
    result = replay(curves(), "none", {}, target=0.3)
    assert result["epochs"] == 24 and result["stopped"] == 0
    assert result["kept_best"] and result["best"] == 0.2
    assert result["to_target"] == 24


def test_a_pruned_trial_pays_the_epochs_it_trained_and_none_is_stopped_at_its_last_epoch():
    result = replay(curves(), "median", {"warmup": 1, "startup": 1}, target=0.3)
    # from the second trial on each is judged against the first's values: the four bad
    # ones stop after epoch 2 (step 1), the best one too, for its warm-up looks worst
    assert result["stopped"] == 5 / 6
    assert result["epochs"] == 4 + 5 * 2
    assert not result["kept_best"] and result["to_target"] is None
    # nothing is judged at the last step: a curve that only turns there is kept
    late = [curves()[0], ([0.9, 0.6, 0.5, 0.1], 0.1)]
    assert replay(late, "median", {"warmup": 3, "startup": 1}, target=0.3)["kept_best"]


def test_the_oracle_trains_only_what_reaches_the_target_and_bounds_every_pruner():
    result = oracle(curves(), warmup=1, target=0.3)
    # only the last trial reaches the target; the five before it stop at step 1, after 2
    # epochs, where a pruner with warm-up 1 first judges
    assert result["epochs"] == 5 * 2 + 4 and result["stopped"] == 5 / 6
    assert result["kept_best"] and result["to_target"] == 14
    for name, setting in settings([1]):
        reached = replay(curves(), name, setting, target=0.3)["to_target"]
        assert reached is None or reached >= 14
    # where no trial reaches the target, the oracle still keeps the best
    assert oracle(curves(), warmup=1, target=0.1)["kept_best"]


def test_hyperband_replays_the_same_brackets_every_time():
    runs = [replay(curves() * 3, "hyperband", {"warmup": 1, "reduction": 2}, target=0.3) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]


def test_every_warm_up_is_replayed_with_every_pruner():
    names = {(name, setting.get("warmup")) for name, setting in settings([3, 6])}
    assert {("median", 3), ("median", 6), ("asha", 3), ("asha", 6), ("hyperband", 3), ("hyperband", 6)} <= names
    assert ("none", None) in names
