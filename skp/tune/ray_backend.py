"""skp-tune --backend ray: the study's trials as Ray Tune trials, on one machine or a cluster.

The Optuna study stays the record: StudySearch (OptunaSearch) asks it for parameters
and writes every result into it, so the dashboard, --report and skp-ensemble see no
difference. Ray adds placement of trials on a cluster's nodes and on fractions of a
GPU, its schedulers, and retries of trials whose worker died.

Each command runs one Ray experiment under studies/<study>/ray/exp-<k>. Re-running the
command restores an unfinished experiment (Tuner.restore: its trials keep their Optuna
trials), or starts a new one for the trials the study still lacks.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from skp.errors import SkpError, require
from skp.tune.optuna_internals import fail_trial, storage_of
from skp.tune.pruners import make_scheduler
from skp.tune.study import study_dir

DONE = "skp-done"  # written into an experiment directory when its fit() returned


@dataclass
class RayOptions:
    address: str | None
    gpus_per_trial: float | None  # None: one GPU per trial when the cluster has GPUs
    cpus_per_trial: float
    max_concurrent: int | None
    max_retries: int


def import_ray():
    return require("ray", "ray", "--backend ray"), require("ray.tune", "ray", "--backend ray")


def longest_epochs(cfg, space: dict) -> int:
    """Epochs of the longest possible trial (per fold): the schedulers' max_t."""
    from skp.tune.space import Categorical, Int

    epochs = space.get("num_epochs")
    if isinstance(epochs, Int):
        longest = epochs.high
    elif isinstance(epochs, Categorical):
        longest = max(epochs.choices)
    else:
        longest = cfg.num_epochs
    return longest


def worker_environment() -> dict:
    """skp's environment variables for every worker, paths made absolute for other machines."""
    from skp.configs.lookup import ROOTS_VARIABLE, user_roots

    paths = ("SKP_SAVE_DIR", "SKP_DATA_DIR", "SKP_STUDIES_DIR")
    environment = {k: str(Path(v).resolve()) if k in paths else v for k, v in os.environ.items() if k.startswith("SKP_")}
    # The driver's config roots, ./configs included, whatever directory a worker starts in.
    environment[ROOTS_VARIABLE] = os.pathsep.join(map(str, user_roots()))
    return environment


def start_ray(ray, address: str | None) -> None:
    # Ray starts its workers at nice 15, as background work; here they train the trials,
    # the command's whole work, and beside any other load they starved. A local instance's
    # workers get the driver's niceness (a cluster's nodes keep their own setting).
    os.environ.setdefault("RAY_worker_niceness", "0")
    try:
        ray.init(
            address=address,
            runtime_env={"env_vars": worker_environment()},
            include_dashboard=False,
            logging_level=logging.WARNING,
        )
    except ConnectionError as err:
        raise SkpError(
            f"Cannot join the Ray cluster at {address!r}: {err}. Start it with `ray start --head` "
            f"(then --address auto), or leave --address out to start a local Ray instance."
        ) from None


def trial_dirname(trial) -> str:
    """Short trial directory names (Ray's default spells out every parameter)."""
    return f"trial-{trial.trial_id}"


def experiments(root: Path) -> list[Path]:
    return sorted((p for p in root.glob("exp-*") if p.is_dir()), key=lambda p: int(p.name.split("-")[1]))


def running_trials(study, experiment: str | None = None) -> list:
    """RUNNING trials of Ray experiments (of `experiment` only, when given)."""
    from optuna.trial import TrialState

    from skp.tune.ray_search import EXPERIMENT

    return [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if EXPERIMENT in t.system_attrs and experiment in (None, t.system_attrs[EXPERIMENT])
    ]


def fail_orphans(study, keep: str | None) -> list[int]:
    """Fail RUNNING trials of Ray experiments other than `keep`: their driver died
    before it could restore them, so nothing will ever finish them."""
    from skp.tune.ray_search import EXPERIMENT

    failed = []
    for trial in running_trials(study):
        owner = trial.system_attrs[EXPERIMENT]
        if owner == keep:
            continue
        fail_trial(study, trial, f"Ray experiment {owner} ended without finishing it")
        failed.append(trial.number)
    return failed


def trial_resources(ray, options: RayOptions) -> dict:
    gpus = options.gpus_per_trial
    if gpus is None:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) else 0
    return {"cpu": options.cpus_per_trial, "gpu": gpus}


def concurrent_trials(ray, resources: dict, max_concurrent: int | None) -> int:
    """Trials the cluster can run at once with these resources (at least one)."""
    cluster = ray.cluster_resources()
    fits = [cluster.get(key.upper(), 0) / need for key, need in resources.items() if need > 0]
    slots = max(1, int(min(fits))) if fits else 1
    return min(slots, max_concurrent) if max_concurrent else slots


def pick_experiment(tune, root: Path) -> tuple[Path, bool]:
    """The last experiment when it can be restored (its fit() never returned), else a new one."""
    earlier = experiments(root)
    if earlier and not (earlier[-1] / DONE).exists() and tune.Tuner.can_restore(str(earlier[-1])):
        return earlier[-1], True
    # a driver that died before Ray saved anything leaves orphans, failed by the caller
    return root / f"exp-{len(earlier) + 1}", False


def new_tuner(tune, trainable, options, ray_options: RayOptions, space: dict, study, experiment: Path, trials: int, scheduler, mode: str):
    from skp.tune.ray_search import StudySearch
    from skp.tune.study import make_sampler, sampler_seed
    from skp.tune.warm_start import with_observations

    # like the Optuna backend's workers: a new experiment must not re-propose
    seed = sampler_seed(options.seed, 0, len(study.trials), socket.gethostname())
    searcher = StudySearch(
        options, space, str(experiment),
        sampler=with_observations(study, make_sampler(options.sampler, seed, space, options.constant_liar)),
        storage=storage_of(study),
        mode=mode,
    )
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=trials,
            max_concurrent_trials=ray_options.max_concurrent,
            time_budget_s=options.timeout,
            reuse_actors=True,  # a new trial skips the worker's imports (seconds each)
            trial_dirname_creator=trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=experiment.name,
            storage_path=str(experiment.parent),
            failure_config=tune.FailureConfig(max_failures=ray_options.max_retries),
            verbose=1,
        ),
    )


def run_ray(options, ray_options: RayOptions, space: dict, cfg, study) -> None:
    """Run (or resume) this study's Ray experiment until the study holds options.trials."""
    ray, tune = import_ray()
    from skp.tune import ray_trial
    from skp.tune.worker import finished_and_running

    experiment, restoring = pick_experiment(tune, (study_dir(options.study_name) / "ray").resolve())
    fail_orphans(study, keep=str(experiment) if restoring else None)
    finished, running = finished_and_running(study)
    remaining = options.trials - finished - running
    if not restoring and remaining <= 0:
        print(f"skp-tune: study {options.study_name!r} already holds {finished} finished trials.")
        return

    mode = "max" if cfg.val_track == "max" else "min"
    scheduler = make_scheduler(options.pruner, mode, longest_epochs(cfg, space), options.pruner_settings, folds=len(options.folds))
    # Lightning's bars and summaries would fill the Ray log; Ray prints its own trial table.
    trainer_kwargs = {"enable_progress_bar": False, "enable_model_summary": False, **options.trainer_kwargs}
    worker_options = replace(options, trainer_kwargs=trainer_kwargs)
    start_ray(ray, ray_options.address)
    try:
        resources = trial_resources(ray, ray_options)
        # Ray Tune keeps one trial pending at a time with a search algorithm, so trials
        # shorter than a worker's start never overlap; let every free slot get one.
        os.environ.setdefault("TUNE_MAX_PENDING_TRIALS_PG", str(concurrent_trials(ray, resources, ray_options.max_concurrent)))
        trainable = tune.with_resources(
            tune.with_parameters(ray_trial.train, options=worker_options, cwd=os.getcwd()), resources
        )
        if restoring:
            print(f"skp-tune: resuming Ray experiment {experiment}")
            tuner = tune.Tuner.restore(str(experiment), trainable=trainable, resume_unfinished=True, resume_errored=False)
        else:
            print(
                f"skp-tune: study {options.study_name!r} on Ray: {remaining} trials, "
                f"{resources['cpu']:g} CPU and {resources['gpu']:g} GPU each, experiment {experiment}"
            )
            tuner = new_tuner(tune, trainable, options, ray_options, space, study, experiment, remaining, scheduler, mode)
        tuner.fit()
        if running_trials(study, str(experiment)):
            # Ray caught Ctrl-C, saved the experiment and returned; the next command restores it
            raise KeyboardInterrupt
        (experiment / DONE).write_text("fit() returned\n")
    finally:
        ray.shutdown()
    orphans = fail_orphans(study, keep=None)
    if orphans:
        print(f"skp-tune: trials {orphans} never finished in Ray and are marked failed.", file=sys.stderr)


def run_ray_promotion(options, ray_options: RayOptions, study) -> None:
    """Each missing fold of the promotion as a Ray task with a trial's resources; in a race,
    one round after another, each decided (skp.tune.promote.advance_race) before the next
    is submitted. Ray retries a task whose worker died; the fold resumes from its resume.ckpt."""
    ray, _ = import_ray()
    from skp.tune.promote import advance_race, missing_jobs, promotion

    racing = bool((promotion(study) or {}).get("race"))
    start_ray(ray, ray_options.address)
    try:
        resources = trial_resources(ray, ray_options)
        while True:
            advance_race(study)
            jobs = missing_jobs(study)
            if not jobs:
                break
            round_of = f" (race round: fold {jobs[0].fold})" if racing and jobs[0].seed is None else ""
            print(f"skp-tune: promotion on Ray: {len(jobs)} fold(s){round_of}, {resources['cpu']:g} CPU and {resources['gpu']:g} GPU each")
            run_ray_jobs(ray, options, ray_options, resources, jobs)
            if not racing:
                break
    finally:
        ray.shutdown()


def run_ray_jobs(ray, options, ray_options: RayOptions, resources: dict, jobs: list) -> None:
    """Train `jobs` as Ray tasks and wait for all; a failed one is named after the others end."""
    from skp.tune.promote import train_one

    task = ray.remote(train_one).options(num_cpus=resources["cpu"], num_gpus=resources["gpu"], max_retries=ray_options.max_retries)
    pending = {task.remote(options.study_name, options.storage, job, os.getcwd()): job for job in jobs}
    failed = []
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        job = pending.pop(ready[0])
        try:
            print(f"skp-tune: promotion: {job.label} fold {job.fold}: {ray.get(ready[0])}")
        except ray.exceptions.RayError as err:
            failed.append(f"{job.label} fold {job.fold}: {err}")
    if failed:
        raise SkpError("Promotion left folds unfinished: " + "; ".join(failed))
