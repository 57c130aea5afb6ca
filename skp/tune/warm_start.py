"""Warm start: a study begins from an earlier one.

    skp-tune fashion.cfg_baseline --trials 30 --warm-start fashion-subset:5

- The earlier study's 5 best distinct parameter sets (promoted trials by their mean over
  folds first, then the others by value) are queued as this study's first trials, after
  its baseline, when they fit its search space: each value inside its parameter's range
  or choices. Parameters the new space lacks are dropped (the config's value applies);
  parameters it adds are left to the sampler. A set with a value outside the new space is
  skipped and named.
- When the two studies declare the same search space, the earlier study's finished trials
  also inform the sampler: TPE (or any sampler) models them with this study's own, so
  its first proposals already avoid what failed there. They are observations only: they
  are never trials of this study, never counted, reported, promoted or exported, since
  their values may come from another config or data size.

The choice is recorded in the study (user attribute `skp:warm_start`), so re-running the
command queues nothing twice and every worker finds the observations.
"""

from __future__ import annotations

import copy

from skp.errors import SkpError

RECORD = "skp:warm_start"
FROM = "warm_start"  # user attribute of a queued trial: "STUDY:NUMBER" it came from
DEFAULT_TOP = 5


def parse(text: str) -> tuple[str, int]:
    name, colon, top = text.rpartition(":") if ":" in text else (text, "", "")
    if colon and not top.isdigit() or colon and int(top) < 1:
        raise SkpError(f"--warm-start takes STUDY or STUDY:K with K >= 1 parameter sets, got {text!r}.")
    return (name, int(top)) if colon else (text, DEFAULT_TOP)


def load_source(name: str, storage: str | None):
    from skp.tune.study import default_storage_path, import_optuna, make_storage, studies_root

    optuna = import_optuna()
    if storage is None and not default_storage_path(name).is_file():
        known = sorted(p.parent.name for p in studies_root().glob("*/journal.log"))
        raise SkpError(
            f"--warm-start: no study {name!r} under {studies_root().resolve()}; studies there: "
            f"{', '.join(known) or '(none)'}. Name one, or give its storage with --warm-start-storage."
        )
    try:
        return optuna.load_study(study_name=name, storage=make_storage(storage, name))
    except KeyError:
        raise SkpError(f"--warm-start: storage {storage} has no study {name!r}.") from None


def ranked(source) -> list:
    """Finished trials with a value, distinct parameters, best first: the promoted ones by
    their mean over folds (a finer measure than one fold), then the rest by value."""
    from optuna.trial import TrialState

    from skp.tune.promote import cv_ranking, distinct_params

    done = [t for t in source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    done.sort(key=lambda t: -t.value if source.direction.name == "MAXIMIZE" else t.value)
    by_cv = cv_ranking(source, [t.number for t in done])
    return distinct_params([t for n in by_cv for t in done if t.number == n] + [t for t in done if t.number not in by_cv])


def project(params: dict, space: dict) -> tuple[dict | None, list[str]]:
    """(the parameters the new space takes, or None when one lies outside it; notes)."""
    fitted, notes = {}, []
    for key, value in params.items():
        if key not in space:
            notes.append(f"{key} dropped (not searched here)")
        elif not space[key].accepts(value):
            return None, [f"{key} = {value!r} lies outside {space[key]}"]
        else:
            fitted[key] = value
    return fitted, notes


def warm_start(study, source_name: str, top: int, storage: str | None, space: dict) -> None:
    """Queue the source's best parameter sets and record the warm start (once)."""
    from skp.tune.study import SPACE_ATTR

    if RECORD in study.user_attrs:
        done = study.user_attrs[RECORD]
        print(f"skp-tune: warm-started from {done['study']} before: nothing queued again")
        return
    if source_name == study.study_name:
        raise SkpError("--warm-start names this study itself; name an earlier study.")
    source = load_source(source_name, storage)
    if source.direction != study.direction:
        raise SkpError(
            f"--warm-start: study {source_name!r} {source.direction.name.lower()}s its value and this one "
            f"{study.direction.name.lower()}s it: its best trials would be its worst here. Warm-start from a "
            f"study of the same val_metric and val_track."
        )
    queued, skipped = [], []
    for trial in ranked(source)[:top]:
        params, notes = project(trial.params, space)
        if params is None:
            skipped.append(f"trial {trial.number}: {notes[0]}")
            continue
        study.enqueue_trial(params, user_attrs={FROM: f"{source_name}:{trial.number}"}, skip_if_exists=True)
        queued.append(trial.number)
    declared = {key: repr(param) for key, param in space.items()}
    observations = source.user_attrs.get(SPACE_ATTR) == declared
    study.set_user_attr(RECORD, {"study": source_name, "storage": storage, "top": top, "queued": queued,
                                 "skipped": skipped, "observations": observations})
    print(f"skp-tune: warm start from {source_name}: queued the parameters of its trials "
          f"{', '.join(map(str, queued)) or '(none)'}" + (f"; skipped {'; '.join(skipped)}" if skipped else "")
          + ("; its finished trials inform the sampler (same search space)" if observations else
             "; the search spaces differ, so its trials do not inform the sampler"))


def with_observations(study, sampler):
    """`sampler`, seeing the warm start's finished trials beside the study's own when the
    study was warm-started from one with the same search space."""
    record = study.user_attrs.get(RECORD)
    if not record or not record.get("observations"):
        return sampler
    from optuna.trial import TrialState

    source = load_source(record["study"], record.get("storage"))
    observed = []
    for index, trial in enumerate(source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))):
        if trial.value is None:
            continue
        frozen = copy.deepcopy(trial)
        frozen.number = frozen._trial_id = -1 - index  # never a trial of this study's storage
        frozen.user_attrs = {}
        frozen.intermediate_values = {}  # a pruner must not compare epochs of another study
        observed.append(frozen)
    return ObservingSampler(sampler, observed)


class _WithObservations:
    """The study as the sampler sees it: its trials and the observations."""

    def __init__(self, study, observed: list):
        self._study, self._observed = study, observed

    def __getattr__(self, name):
        return getattr(self._study, name)

    def _extra(self, states):
        return [copy.deepcopy(t) for t in self._observed if states is None or t.state in states]

    def _get_trials(self, deepcopy=True, states=None, use_cache=False):
        return self._extra(states) + self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)

    def get_trials(self, deepcopy=True, states=None):
        return self._extra(states) + self._study.get_trials(deepcopy=deepcopy, states=states)

    @property
    def trials(self):
        return self.get_trials()


class ObservingSampler:
    """Delegates to an Optuna sampler, handing its sampling methods the study with the
    observations; trial bookkeeping (before/after a trial) sees the real study."""

    def __init__(self, sampler, observed: list):
        self.sampler, self.observed = sampler, observed

    def __getattr__(self, name):
        return getattr(self.sampler, name)

    def infer_relative_search_space(self, study, trial):
        return self.sampler.infer_relative_search_space(_WithObservations(study, self.observed), trial)

    def sample_relative(self, study, trial, search_space):
        return self.sampler.sample_relative(_WithObservations(study, self.observed), trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self.sampler.sample_independent(_WithObservations(study, self.observed), trial, param_name, param_distribution)

    def before_trial(self, study, trial):
        return self.sampler.before_trial(study, trial)

    def after_trial(self, study, trial, state, values):
        return self.sampler.after_trial(study, trial, state, values)
