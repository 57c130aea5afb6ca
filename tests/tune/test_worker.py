"""Worker behaviour that needs no training."""

from skp.tune.options import TuneOptions
from skp.tune.worker import without_sanity_check


def options(trainer_kwargs):
    return TuneOptions(
        config="digits.cfg_baseline", overrides=[], study_name="s", storage=None, sampler="tpe", pruner="median",
        seed=0, trials=2, timeout=None, folds=[0], trainer_kwargs=trainer_kwargs, stale_after=600, max_failures=3,
    )


def test_later_trials_skip_the_sanity_check_without_touching_the_first_options():
    first = options({"limit_train_batches": 4})
    later = without_sanity_check(first)
    assert later.trainer_kwargs == {"limit_train_batches": 4, "num_sanity_val_steps": 0}
    assert first.trainer_kwargs == {"limit_train_batches": 4}


def test_an_explicit_sanity_check_flag_wins():
    explicit = options({"num_sanity_val_steps": 5})
    assert without_sanity_check(explicit).trainer_kwargs == {"num_sanity_val_steps": 5}
