"""Study storage, samplers and pruners by name."""

from __future__ import annotations

import json
import os
import re
import zlib
from pathlib import Path

from skp.console import quiet_optuna
from skp.errors import SkpError, require
from skp.registry import choose

MAX_RETRIES = 2  # a trial whose worker died runs this many more times


def import_optuna():
    optuna = require("optuna", "tune", "skp-tune")
    quiet_optuna(optuna)
    return optuna


def studies_root() -> Path:
    return Path(os.environ.get("SKP_STUDIES_DIR", "studies"))


def study_dir(study_name: str) -> Path:
    return studies_root() / study_name


def default_storage_path(study_name: str) -> Path:
    return study_dir(study_name) / "journal.log"


def make_storage(url: str | None, study_name: str, stale_after: float | None = None):
    """A journal file under studies/ by default (safe for many processes), else an RDB URL.

    Workers pass `stale_after`: RDB storages then get Optuna's heartbeat, so a trial
    whose process sent none for that many seconds is failed and retried by whichever
    worker looks next. Readers (report, dashboard, skp-ensemble) pass nothing.
    """
    optuna = import_optuna()
    if url is None or url.endswith(".log"):
        from skp.tune.journal import journal_backend

        path = Path(url) if url else default_storage_path(study_name)
        if url and not path.parent.is_dir():
            raise SkpError(f"--storage {url}: the folder {path.parent} does not exist. Create it, or leave --storage out for studies/<study>/journal.log.")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(journal_backend(str(path)))  # replays the journal
        except json.JSONDecodeError as err:  # every reader comes here: skp-tune, skp-ensemble, the dashboard
            raise SkpError(corrupt_journal_message(path, err)) from None
        except OSError as err:
            raise SkpError(f"Cannot open the study journal {path}: {err.strerror or err}. Give a --storage path (or $SKP_STUDIES_DIR) you can write.") from None
    try:
        if stale_after is None:
            return optuna.storages.RDBStorage(url)
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        return optuna.storages.RDBStorage(
            url,
            heartbeat_interval=max(1, int(min(30, stale_after / 4))),
            grace_period=max(1, int(stale_after)),
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES),
        )
    except (ImportError, ModuleNotFoundError) as err:
        raise SkpError(f"--storage {url}: {err}. For PostgreSQL: pip install 'skp[postgres]'.") from None
    except Exception as err:
        if not type(err).__module__.startswith("sqlalchemy"):
            raise
        raise SkpError(
            f"Cannot open --storage {_without_password(url)}: {str(err).splitlines()[0]}. Check the URL's "
            f"dialect (postgresql://, mysql://, sqlite:///path), host, port, user, password and database, "
            f"and that the server accepts connections; or leave --storage out for a journal file."
        ) from None


def _without_password(url: str) -> str:
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def corrupt_journal_message(path: Path, err: Exception) -> str:
    """Where the journal stops being JSON records, and how to resume from before it."""
    bad = next((n for n, line in enumerate(path.open(errors="replace"), 1) if line.strip() and not _is_json(line)), None)
    where = f"line {bad}" if bad else "somewhere"
    return (
        f"The study journal {path} is corrupt at {where} ({err}). Every trial recorded before that line "
        f"is intact and its run directory kept: back the file up, delete line {bad or 'N'} and the lines after "
        f"it, and re-run the same command; or start a new study with --study NAME."
    )


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


# --sampler NAME -> the Optuna sampler, from (optuna, seed, search space, constant liar).
# TPE runs with the constant liar: a running trial counts as a bad result, so parallel
# workers do not propose points next to what others are training (with no trial
# running, it changes nothing).
SAMPLERS = {
    "tpe": lambda optuna, seed, space, liar: optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=liar),
    "random": lambda optuna, seed, space, liar: optuna.samplers.RandomSampler(seed=seed),
    "qmc": lambda optuna, seed, space, liar: optuna.samplers.QMCSampler(qmc_type="halton", scramble=True, seed=seed),
    "cmaes": lambda optuna, seed, space, liar: optuna.samplers.CmaEsSampler(seed=seed),
    "gp": lambda optuna, seed, space, liar: optuna.samplers.GPSampler(seed=seed),
    "grid": lambda optuna, seed, space, liar: optuna.samplers.GridSampler(_grid(space), seed=seed),
}


def make_sampler(name: str, seed: int | None, space: dict, constant_liar: bool = True):
    return choose(SAMPLERS, name, "--sampler")(import_optuna(), seed, space, constant_liar)


def _grid(space: dict) -> dict:
    from skp.tune.space import Categorical, Int

    grid = {}
    for key, param in space.items():
        if isinstance(param, Categorical):
            grid[key] = list(param.choices)
        elif isinstance(param, Int) and not param.log:
            grid[key] = list(range(param.low, param.high + 1, param.step))
        else:
            raise SkpError(
                f"--sampler grid needs Categorical or linear Int parameters; {key} is {param}. "
                f"Use Categorical([...]) for the values to try."
            )
    return grid


def sampler_seed(seed: int | None, worker_index: int, trials_so_far: int, host: str) -> int | None:
    """A sampler seed of its own for every worker, host and start of a study: two
    samplers with one seed on one history propose the same point. Mixed, not added, so
    that worker 1 at 0 trials and worker 0 at 1 trial do not collide."""
    if seed is None:
        return None
    from skp.tasks.seeding import derive_seed

    return derive_seed(seed, worker_index, trials_so_far, zlib.crc32(host.encode()))


SPACE_ATTR = "skp:search_space"


def check_same_space(study, space: dict) -> None:
    """A study keeps the search space it started with: trials sampled from two spaces
    mislead the sampler and the report. The first run records it; later runs compare."""
    declared = {key: repr(param) for key, param in space.items()}
    recorded = study.user_attrs.get(SPACE_ATTR)
    if recorded is None:
        study.set_user_attr(SPACE_ATTR, declared)
        return
    if recorded != declared:
        changed = sorted(k for k in recorded.keys() | declared.keys() if recorded.get(k) != declared.get(k))
        lines = "; ".join(f"{k}: {recorded.get(k, '(absent)')} -> {declared.get(k, '(absent)')}" for k in changed)
        raise SkpError(
            f"Study {study.study_name!r} searched another space than cfg.search_space now declares ({lines}). "
            f"Restore the config's search space to resume it, or start a new study with --study NAME "
            f"(--freeze KEY=VALUE fixes a parameter without changing the space)."
        )


def trial_run_dir(target: str) -> Path:
    """The run directory of trial NUMBER of a study named as STUDY:NUMBER (skp-train --reproduce)."""
    study_name, _, number = target.rpartition(":")
    optuna = import_optuna()
    path = default_storage_path(study_name)
    try:
        if not path.is_file():
            raise KeyError(study_name)
        study = optuna.load_study(study_name=study_name, storage=make_storage(None, study_name))
    except KeyError:
        raise SkpError(f"--reproduce {target}: no study {study_name!r} in {path} (set $SKP_STUDIES_DIR if it lives elsewhere).") from None
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if int(number) not in trials:
        raise SkpError(f"--reproduce {target}: study {study_name!r} has trials 0 to {len(trials) - 1}.")
    run_dir = trials[int(number)].user_attrs.get("run_dir")
    if not run_dir:
        raise SkpError(f"--reproduce {target}: trial {number} never started a run (it has no run_dir).")
    return Path(run_dir)
