"""skp-tune: search a config's hyperparameters with parallel, pruned, resumable trials.

    skp-tune digits.cfg_baseline --trials 20
    skp-tune boneage.cfg_baseline --trials 100 --gpus 0,1,2,3 --trials-per-gpu 2
    skp-tune boneage.cfg_baseline --trials 100 --backend ray --address auto --gpus-per-trial 0.5
    skp-tune digits.cfg_baseline --promote 3       # the 3 best trials on every fold
    skp-tune digits.cfg_baseline --report          # table, plots, tuned config
    skp-tune digits.cfg_baseline --dashboard       # optuna-dashboard on 127.0.0.1
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

from skp.errors import SkpError, exit_status
from skp.training.arguments import add_trainer_arguments, trainer_kwargs
from skp.tune.promote import PROMOTE_BY
from skp.tune.pruners import DEFAULT_PRUNER, PRUNERS, SETTINGS, WARMUP_SHARE, PrunerSettings, check_ray_pruner, describe_pruner, resolve_pruner_settings
from skp.tune.study import SAMPLERS

DEFAULT_TRIALS = 20


@dataclass
class TuneOptions:
    """What every worker needs to run trials of one study (defaults live in the parser)."""

    config: str
    overrides: list
    study_name: str
    storage: str | None
    sampler: str
    pruner: str
    seed: int | None
    trials: int
    timeout: float | None
    folds: list
    trainer_kwargs: dict
    stale_after: float
    max_failures: int
    constant_liar: bool = True
    pruner_settings: PrunerSettings = PrunerSettings()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skp-tune",
        description="Search cfg.search_space of a config with Optuna. Any other --attribute VALUE "
        "overrides the config in every trial.",
        allow_abbrev=False,
    )
    parser.add_argument("config", help="project.cfg_name (e.g. digits.cfg_baseline) or a config file's path")
    parser.add_argument("--verbose", action="store_true", help="show libraries' messages, model summaries and every fold's epochs (else in each fold's console.log)")
    parser.add_argument("--trials", type=int, help="finished trials the study should hold in total (default 20; with --promote or --confirm alone, no search)")
    parser.add_argument("--study", help="study name (default: the config's project.cfg_name)")
    parser.add_argument("--storage", help="journal file (*.log) or RDB URL, e.g. postgresql://user:pw@host/db (default: studies/<study>/journal.log)")
    parser.add_argument("--sampler", default="tpe", help=", ".join(SAMPLERS))
    parser.add_argument("--pruner", help=f"{', '.join(PRUNERS)} (default: {DEFAULT_PRUNER}, on either backend)")
    for key, (flag, _, text) in SETTINGS.items():
        defaults = ", ".join(f"{name} {pruner.defaults[key]}" for name, pruner in PRUNERS.items() if key in pruner.defaults)
        if key == "warmup":  # every pruner's default is a share of the trials' length
            defaults = f"{WARMUP_SHARE * 100:.0f}%% of the shortest trial's epochs, at least 1"
        parser.add_argument(flag, type=int, metavar=key[0].upper(), help=f"{text} (default: {defaults})")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-constant-liar", action="store_true", help="TPE without the constant liar (for comparisons; parallel workers then propose near each other)")
    parser.add_argument("--timeout", type=float, help="seconds after which workers start no new trial")
    parser.add_argument("--folds", default="0", help="folds each trial trains; the value is their mean (default 0)")
    parser.add_argument("--freeze", action="append", default=[], metavar="KEY=VALUE", help="fix a search-space parameter")
    parser.add_argument("--workers", type=int, help="worker processes on CPU (default 1)")
    parser.add_argument("--gpus", help="GPU ids to use, e.g. 0,1,2,3 (default: all visible)")
    parser.add_argument("--trials-per-gpu", type=int, default=1, help="concurrent trials on each GPU")
    parser.add_argument("--stale-after", type=float, default=600.0, help="seconds without heartbeat before a trial counts as dead and is retried (journal: sent every 60 s; RDB: every stale-after/4 s, at most 30)")
    parser.add_argument("--max-failures", type=int, default=3, help="a worker stops after this many failed trials in a row")
    parser.add_argument("--no-export", action="store_true", help="do not write the best trial as a config file")
    parser.add_argument("--no-baseline", action="store_true", help="do not run the config's own settings as the study's first trial")
    parser.add_argument("--confirm", type=int, default=0, metavar="K", help="re-train the K best trials and the baseline on --confirm-seeds extra seeds; rank by the mean")
    parser.add_argument("--confirm-seeds", type=int, default=2, metavar="S", help="extra seeds per trial for --confirm (default 2)")
    parser.add_argument("--promote", type=int, default=0, metavar="K", help="train the K best finished trials on every fold (--promote-folds), in their run directories")
    parser.add_argument("--promote-by", default="value", choices=PROMOTE_BY, help="value: the K best values; ensemble: greedy ensemble selection on their out-of-fold predictions")
    parser.add_argument("--promote-folds", help="folds of promoted trials (default: every fold of the config's fold column)")
    parser.add_argument("--promote-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--report", action="store_true", help="print the table, write plots and the tuned config, then exit")
    parser.add_argument("--dashboard", action="store_true", help="serve optuna-dashboard on the study storage")
    parser.add_argument("--host", default="127.0.0.1", help="dashboard address")
    parser.add_argument("--port", type=int, default=8080, help="dashboard port")
    parser.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)
    ray = parser.add_argument_group("Ray backend (--backend ray)")
    ray.add_argument("--backend", default="optuna", choices=("optuna", "ray"), help="who runs trials: skp's own workers (optuna) or Ray Tune")
    ray.add_argument("--address", help="join a running Ray cluster: auto, HOST:PORT or ray://HOST:PORT (default: start a local one)")
    ray.add_argument("--gpus-per-trial", type=float, help="GPUs per trial; 0.5 packs two trials on a GPU (default: 1 if the cluster has GPUs)")
    ray.add_argument("--cpus-per-trial", type=float, help="CPUs per trial (default 1)")
    ray.add_argument("--max-concurrent", type=int, help="trials running at once (default: as many as resources allow)")
    ray.add_argument("--max-retries", type=int, help="times Ray restarts a trial whose worker died (default 2)")
    add_trainer_arguments(parser, "Lightning Trainer (every trial)")
    return parser


def _freeze(space: dict, frozen: list[str]) -> tuple[dict, list]:
    space, pairs = dict(space), []
    for item in frozen:
        key, eq, value = item.partition("=")
        if not eq or key not in space:
            raise SkpError(f"--freeze takes KEY=VALUE with KEY in the search space ({', '.join(space)}), got {item!r}.")
        del space[key]
        pairs.append((key, value))
    return space, pairs


def _fix_overridden(space: dict, overrides: list) -> dict:
    """A command-line override of a searched parameter fixes it for every trial (as
    --freeze does) instead of being silently replaced by each trial's suggestion."""
    fixed = sorted({key for key, _ in overrides if key in space})
    if fixed:
        print(f"skp-tune: {', '.join('--' + k for k in fixed)} fixed for every trial; searching the rest")
    return {key: param for key, param in space.items() if key not in fixed}


RAY_FLAGS = ("address", "gpus_per_trial", "cpus_per_trial", "max_concurrent", "max_retries")
WORKER_FLAGS = ("workers", "gpus")


def check_backend_flags(args) -> None:
    """Flags of the other backend would be silently ignored; refuse them instead."""
    flags = RAY_FLAGS if args.backend == "optuna" else WORKER_FLAGS
    given = [f"--{name.replace('_', '-')}" for name in flags if getattr(args, name) is not None]
    if args.backend == "ray" and args.trials_per_gpu != 1:
        given.append("--trials-per-gpu")
    if given:
        other, verb = ("ray" if args.backend == "optuna" else "optuna"), ("applies" if len(given) == 1 else "apply")
        hint = "Add --backend ray." if args.backend == "optuna" else "Ray places trials itself: use --gpus-per-trial, --cpus-per-trial and --max-concurrent."
        raise SkpError(f"{', '.join(given)} only {verb} to the {other} backend. {hint}")


def ray_options(args):
    from skp.tune.ray_backend import RayOptions
    from skp.tune.study import MAX_RETRIES

    return RayOptions(
        address=args.address,
        gpus_per_trial=args.gpus_per_trial,
        cpus_per_trial=1.0 if args.cpus_per_trial is None else args.cpus_per_trial,
        max_concurrent=args.max_concurrent,
        max_retries=MAX_RETRIES if args.max_retries is None else args.max_retries,
    )


def choose_pruner(args, cfg, space: dict) -> tuple[str, PrunerSettings]:
    """The pruner and its settings, defaults filled in from the trials' length; a wrong
    name or setting fails here, before any data or trial is touched."""
    name = args.pruner or DEFAULT_PRUNER
    given = PrunerSettings(args.pruner_warmup, args.pruner_startup, args.reduction_factor)
    if args.backend == "ray":
        check_ray_pruner(name, given)
    # the shortest trial sets the warm-up: a longer one is still early in its schedule then
    epochs = space["num_epochs"].low if "num_epochs" in space else cfg.num_epochs
    return name, PrunerSettings(**resolve_pruner_settings(name, given, epochs))


def prepare(args, tokens) -> tuple[TuneOptions, dict, object]:
    """Options, validated search space and the base config, before anything runs."""
    from skp.configs import config_label, load_config
    from skp.configs.overrides import apply_overrides, parse_override_tokens
    from skp.training.folds import check_config, parse_folds
    from skp.tune.space import validate_space
    from skp.tune.study import import_optuna

    import_optuna()
    check_backend_flags(args)
    if args.gpus is not None and args.worker_index is None:  # a worker sees only its own GPU
        import torch

        check_gpus(args.gpus, torch.cuda.device_count())
    cfg = load_config(args.config, tokens)
    check_config(cfg)
    space, frozen = _freeze(validate_space(cfg), args.freeze)
    apply_overrides(cfg, frozen)  # the frozen values apply to every trial, like CLI overrides
    overrides = parse_override_tokens(tokens) + frozen
    space = _fix_overridden(space, overrides)
    if args.trials is not None and args.trials < 1:
        raise SkpError(f"--trials must be at least 1, got {args.trials}.")
    if args.promote < 0:
        raise SkpError(f"--promote takes K >= 1 trials, got {args.promote}.")
    for flag, value in (("--workers", args.workers), ("--trials-per-gpu", args.trials_per_gpu), ("--max-failures", args.max_failures)):
        if value is not None and value < 1:
            raise SkpError(f"{flag} must be at least 1, got {value}.")
    for flag, value in (("--timeout", args.timeout), ("--stale-after", args.stale_after)):
        if value is not None and not value > 0:
            raise SkpError(f"{flag} takes a number of seconds above 0, got {value}.")
    if args.confirm < 0 or args.confirm_seeds < 1:
        raise SkpError(f"--confirm takes K >= 0 trials and --confirm-seeds S >= 1 seeds, got {args.confirm} and {args.confirm_seeds}.")
    pruner, pruner_settings = choose_pruner(args, cfg, space)
    options = TuneOptions(
        config=cfg.config_name,  # canonical: what every worker reloads, from any directory
        overrides=overrides,
        study_name=args.study or config_label(cfg.config_name),
        storage=args.storage,
        sampler=args.sampler,
        pruner=pruner,
        seed=args.seed,
        trials=DEFAULT_TRIALS if args.trials is None else args.trials,
        timeout=args.timeout,
        folds=parse_folds(args.folds, 0),
        trainer_kwargs=trainer_kwargs(args),
        stale_after=args.stale_after,
        max_failures=args.max_failures,
        constant_liar=not args.no_constant_liar,
        pruner_settings=pruner_settings,
    )
    return options, space, cfg


def open_study(options: TuneOptions, cfg, space: dict):
    from skp.tune.pruners import make_pruner
    from skp.tune.study import import_optuna, make_sampler, make_storage

    optuna = import_optuna()
    direction = "maximize" if cfg.val_track == "max" else "minimize"
    try:
        study = optuna.create_study(
            study_name=options.study_name,
            storage=make_storage(options.storage, options.study_name, options.stale_after),
            direction=direction,
            load_if_exists=True,
            sampler=make_sampler(options.sampler, options.seed, space),
            pruner=make_pruner(options.pruner, options.pruner_settings),
        )
    except ValueError as err:
        raise SkpError(f"Cannot open study {options.study_name!r}: {err}. Pick another --study name.") from None
    if study.direction.name.lower() != direction:
        raise SkpError(
            f"Study {options.study_name!r} was created to {study.direction.name.lower()} its value, but "
            f"{cfg.config_name} now says cfg.val_track={cfg.val_track!r} ({cfg.val_metric}): its trials would be "
            f"ranked backwards. Restore the config's val_metric and val_track, or start a new study with --study NAME."
        )
    if study.metric_names is None:
        study.set_metric_names([cfg.val_metric])  # trial lines and optuna-dashboard name the value
    return study


def worker_slots(args) -> list[dict]:
    """One environment per worker process: pinned GPUs, or CPU workers sharing the cores."""
    import torch

    if args.gpus is not None or (args.workers is None and torch.cuda.is_available()):
        gpus = check_gpus(args.gpus, torch.cuda.device_count()) if args.gpus else [str(i) for i in range(torch.cuda.device_count())]
        return [{"CUDA_VISIBLE_DEVICES": g} for g in gpus for _ in range(args.trials_per_gpu)]
    workers = args.workers or 1
    threads = str(max(1, (os.cpu_count() or 1) // workers))  # avoid oversubscribing the cores
    return [{"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": threads} for _ in range(workers)]


def check_gpus(text: str, available: int) -> list[str]:
    """The GPU indices of --gpus, each one a device this machine has."""
    gpus = [g.strip() for g in text.split(",") if g.strip()]
    wrong = [g for g in gpus if not g.isdigit() or int(g) >= available]
    if not gpus or wrong:
        have = f"GPUs 0 to {available - 1}" if available else "no GPU that torch can use"
        raise SkpError(
            f"--gpus {text} names device(s) {', '.join(wrong) or '(none)'} this machine does not have: it has {have}. "
            f"Give existing indices (e.g. --gpus 0,1), or --workers N to run trials on the CPU."
        )
    return gpus


def serve_dashboard(options: TuneOptions, host: str, port: int) -> None:
    try:
        import optuna_dashboard
    except ImportError:
        raise SkpError("--dashboard needs optuna-dashboard: pip install 'skp[tune]'.") from None
    from skp.tune.study import make_storage

    print(f"skp-tune: optuna-dashboard on http://{host}:{port} (Ctrl-C stops it)")
    optuna_dashboard.run_server(make_storage(options.storage, options.study_name), host=host, port=port)


def run_trials(argv: list[str], args, options: TuneOptions, space: dict, cfg, study) -> None:
    """The trials the study lacks (its baseline first), on the chosen backend."""
    from skp.tune.study import check_same_space
    from skp.tune.space import validate_space

    check_same_space(study, validate_space(cfg))
    print(f"skp-tune: pruner {describe_pruner(options.pruner, vars(options.pruner_settings))}")
    if "num_epochs" in space and options.pruner != "none":
        print(
            "skp-tune: warning: the search space varies num_epochs, and the pruner compares trials epoch "
            "by epoch; a longer schedule is worse mid-way and better at its end, so long trials may be "
            "stopped for it. Pass --pruner none to let every trial finish."
        )
    if not args.no_baseline:
        from skp.tune.baseline import ensure_baseline

        if ensure_baseline(study, cfg, space):
            print("skp-tune: the config's own settings run first, as the study's baseline trial")
    if args.backend == "ray":
        from skp.tune.ray_backend import import_ray, run_ray

        import_ray()  # the install hint before any data preparation
        if cfg.prepare_data is not None:
            cfg.prepare_data(cfg)
        check_folds("--folds", options.folds, cfg)
        run_ray(options, ray_options(args), space, cfg, study)
        return
    if cfg.prepare_data is not None:
        cfg.prepare_data(cfg)  # once, before workers race for it
    check_folds("--folds", options.folds, cfg)
    slots = worker_slots(args)
    print(f"skp-tune: study {options.study_name!r}, {options.trials} trials, {len(slots)} worker(s)")
    if len(slots) == 1 and not slots[0]["CUDA_VISIBLE_DEVICES"]:
        from skp.tune.worker import run_worker

        run_worker(options, space)
        return
    from skp.tune.supervisor import supervise

    codes = supervise(argv, slots, options)
    report_exit_codes(codes, "Finished trials are kept")


def report_exit_codes(codes: list[int], kept: str) -> None:
    bad = [f"worker {i} exited with {c}" for i, c in enumerate(codes) if c != 0]
    if bad:
        print("skp-tune: " + "; ".join(bad) + f". {kept}; re-run the same command to continue.", file=sys.stderr)


def check_folds(flag: str, folds: list[int], cfg) -> list[int]:
    """`folds`, refused (naming `flag`) unless every one is in the annotations' fold column."""
    from skp.tune.promote import annotation_folds

    available = annotation_folds(cfg)
    unknown = sorted(set(folds) - set(available))
    if unknown:
        raise SkpError(f"{flag}: folds {unknown} are not in {cfg.annotations_file}, whose folds are {available}.")
    return folds


def promotion_folds(args, cfg) -> list[int]:
    from skp.training.folds import parse_folds
    from skp.tune.promote import annotation_folds

    if args.promote_folds is None:
        return annotation_folds(cfg)
    return check_folds(f"--promote-folds {args.promote_folds}", parse_folds(args.promote_folds, 0), cfg)


def run_promotion(argv: list[str], args, options: TuneOptions, cfg, study) -> None:
    """Train the missing folds of the chosen trials on the backend's worker slots, then
    record their cross-validated values."""
    from skp.tune import promote

    if cfg.prepare_data is not None:
        cfg.prepare_data(cfg)
    folds = promotion_folds(args, cfg)
    chosen = promote.choose_trials(study, args.promote, args.promote_by)
    baseline = promote.record_promotion(study, chosen, args.promote_by, folds)["baseline"]
    missing = promote.missing_jobs(study)
    reference = f", and the baseline (trial {baseline}) as the reference," if baseline not in (None, *[t.number for t in chosen]) else ""
    print(
        f"skp-tune: promoting trials {', '.join(str(t.number) for t in chosen)} (by {args.promote_by}){reference} "
        f"to folds {','.join(map(str, folds))}: {len(missing)} fold(s) to train"
    )
    if missing and args.backend == "ray":
        from skp.tune.ray_backend import run_ray_promotion

        run_ray_promotion(options, ray_options(args), missing)
    elif missing:
        slots = worker_slots(args)
        if len(slots) == 1 and not slots[0]["CUDA_VISIBLE_DEVICES"]:
            promote.train_missing_folds(study)
        else:
            from skp.tune.supervisor import supervise

            codes = supervise([*argv, "--promote-worker"], slots, options, work_left=lambda s: bool(promote.missing_jobs(s)))
            report_exit_codes(codes, "Finished folds are kept")
    promote.record_cv(study)


def require_trials(study) -> None:
    """--confirm or --promote without --trials works on an existing study: a misspelt
    --study must not silently start a new one."""
    from optuna.trial import TrialState

    from skp.tune.study import studies_root

    if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return
    known = sorted(p.parent.name for p in studies_root().glob("*/journal.log") if p.parent.name != study.study_name)
    raise SkpError(
        f"Study {study.study_name!r} has no complete trial to check or promote. Name an existing study with "
        f"--study ({', '.join(known) or f'none in {studies_root()}'}), or add --trials N to search first."
    )


def tune(argv: list[str], args, tokens: list[str]) -> int:
    if args.worker_index is not None:
        from skp.tune.supervisor import die_with_driver, write_whole_lines

        die_with_driver()
        write_whole_lines()
    options, space, cfg = prepare(args, tokens)
    if args.worker_index is not None:
        from skp.tune.worker import run_promotion_worker, run_worker

        if args.promote_worker:
            run_promotion_worker(options)
        else:
            run_worker(options, space, args.worker_index)
        return 0
    if args.dashboard:
        serve_dashboard(options, args.host, args.port)
        return 0
    study = open_study(options, cfg, space)
    if not args.report:
        if args.trials is not None or not (args.promote or args.confirm):  # --promote or --confirm alone: no search
            run_trials(argv, args, options, space, cfg, study)
        else:
            require_trials(study)
        if args.confirm:
            from skp.tune.confirm import run_seed_check

            run_seed_check(study, cfg, args.confirm, args.confirm_seeds)
        if args.promote:
            run_promotion(argv, args, options, cfg, study)
    from skp.tune.report import report

    report(study, cfg, export=not args.no_export)
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, tokens = build_parser().parse_known_args(argv)
    from skp.console import command_display

    def body():
        with command_display(args.verbose, fold_progress=False):  # a line per trial and fold instead
            return tune(argv, args, tokens)

    return exit_status("skp-tune", body, "re-run the same command to continue: the Optuna backend marks the trials "
                                         "in flight failed and runs new ones, the Ray backend resumes them.")


if __name__ == "__main__":
    # Run the importable module, not __main__: Ray pickles TuneOptions into its
    # experiment state, and `__main__.TuneOptions` cannot be found when the state is
    # loaded elsewhere (a Ray Client head) or by `skp-tune` after `python -m`.
    from skp.tune.cli import main as module_main

    sys.exit(module_main())
