"""The study's baseline: the config's own settings, run as a trial of the study.

Every gain a study reports is measured against this trial, so skp-tune queues it
(Optuna's enqueue_trial) before any other trial it starts, and again after it failed,
a few times; `--no-baseline` turns it off. The pruner never stops it.
"""

from __future__ import annotations

from skp.errors import SkpError
from skp.tune.space import Categorical, active_keys, current_value

BASELINE = "baseline"  # user attribute of the baseline trial
MAX_BASELINE_TRIES = 3


def baseline_params(cfg, space: dict) -> dict:
    """The config's own values of the searched parameters that apply to it."""
    params, unrepresentable = {}, []
    for key in active_keys(cfg, space, {}):
        value = current_value(cfg, {}, key)
        param = space[key]
        if isinstance(param, Categorical) and value not in param.choices:
            unrepresentable.append(f"{key} = {value!r} is not among its choices {list(param.choices)}")
            continue
        params[key] = value
    if unrepresentable:
        raise SkpError(
            f"The study's baseline trial runs {cfg.config_name}'s own settings, but "
            f"{'; '.join(unrepresentable)}. Add the config's value to the choices, or pass "
            f"--no-baseline to search without a baseline trial."
        )
    return params


def is_baseline(trial) -> bool:
    return bool(trial.user_attrs.get(BASELINE))


def baseline_trial(study):
    """The finished baseline trial with a value, or None."""
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if is_baseline(t)]
    return done[0] if done else None


def ensure_baseline(study, cfg, space: dict) -> bool:
    """Queue the baseline trial unless the study holds one (finished, running or
    queued) or it already failed MAX_BASELINE_TRIES times; True when queued now."""
    from optuna.trial import TrialState

    params = baseline_params(cfg, space)
    trials = [t for t in study.get_trials(deepcopy=False) if is_baseline(t)]
    if any(t.state != TrialState.FAIL for t in trials) or len(trials) >= MAX_BASELINE_TRIES:
        return False
    study.enqueue_trial(params, user_attrs={BASELINE: True}, skip_if_exists=False)
    return True
