"""The one place that reads Optuna's private attributes (`study._storage`,
`trial._trial_id`): what skp needs and Optuna's public API lacks. Failing a trial that
another process started, with the reason; system attributes (host, process, heartbeat)
on a running trial; a trial by its storage id. An Optuna upgrade that renames them
breaks here, and tests/tune shows it at once."""

from __future__ import annotations


def storage_of(study):
    return study._storage


def trial_id(trial) -> int:
    return trial._trial_id


def fail_trial(study, trial, reason: str) -> None:
    """Mark a RUNNING trial FAIL with `reason` (raises Optuna's UpdateFinishedTrialError
    when it finished meanwhile). The reason first: a finished trial's attributes cannot change."""
    from optuna.trial import TrialState

    study._storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
    study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


def set_system_attr(trial, key: str, value) -> None:
    """A system attribute on a running trial (optuna.Trial has set_user_attr only)."""
    trial.study._storage.set_trial_system_attr(trial._trial_id, key, value)


def trial_by_id(study, number_in_storage: int):
    return study._storage.get_trial(number_in_storage)


def copy_pruner_state(source, trial) -> None:
    """The rungs Optuna's successive halving let `source` through (its system attributes
    completed_rung_N, which it reads to place a trial), onto `trial`, which goes on from
    where `source` died: without them it would compare its later values at those rungs.
    Not under Hyperband, whose bracket follows the trial's number: the two may differ."""
    import optuna

    if isinstance(trial.study.pruner, optuna.pruners.HyperbandPruner):
        return
    for key, value in source.system_attrs.items():
        if key.startswith("completed_rung_"):
            set_system_attr(trial, key, value)
