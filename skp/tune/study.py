"""Study storage, samplers and pruners by name."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

from skp.errors import SkpError, choose

SAMPLERS = ("tpe", "random", "qmc", "cmaes", "gp", "grid")
PRUNERS = ("median", "asha", "hyperband", "none")
MAX_RETRIES = 2  # a trial whose worker died runs this many more times


def import_optuna():
    try:
        import optuna
    except ImportError:
        raise SkpError("skp-tune needs Optuna: pip install 'skp[tune]'.") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
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
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(journal_backend(str(path)))
    try:
        if stale_after is None:
            return optuna.storages.RDBStorage(url)
        from optuna.storages import RetryFailedTrialCallback

        return optuna.storages.RDBStorage(
            url,
            heartbeat_interval=max(1, int(min(30, stale_after / 4))),
            grace_period=max(1, int(stale_after)),
            failed_trial_callback=RetryFailedTrialCallback(max_retry=MAX_RETRIES),
        )
    except (ImportError, ModuleNotFoundError) as err:
        raise SkpError(f"--storage {url}: {err}. For PostgreSQL: pip install 'skp[postgres]'.") from None


def make_sampler(name: str, seed: int | None, space: dict, constant_liar: bool = True):
    """Sampler `name`. TPE runs with the constant liar: a running trial counts as a bad
    result, so parallel workers do not propose points next to what others are training
    (with no trial running, it changes nothing)."""
    optuna = import_optuna()
    samplers = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=constant_liar),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
        "qmc": lambda: optuna.samplers.QMCSampler(qmc_type="halton", scramble=True, seed=seed),
        "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed),
        "gp": lambda: optuna.samplers.GPSampler(seed=seed),
        "grid": lambda: optuna.samplers.GridSampler(_grid(space), seed=seed),
    }
    return choose(samplers, name, "--sampler")()


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


def make_pruner(name: str):
    optuna = import_optuna()
    pruners = {
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
        "asha": lambda: optuna.pruners.SuccessiveHalvingPruner(),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(),
        "none": lambda: optuna.pruners.NopPruner(),
    }
    return choose(pruners, name, "--pruner")()
