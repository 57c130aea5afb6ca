"""What a study runs with: skp-tune's arguments checked and turned into TuneOptions (the
config, its search space after --freeze and overrides, the pruner, the folds), before
any data or trial is touched."""

from __future__ import annotations

from dataclasses import dataclass

from skp.errors import SkpError
from skp.training.arguments import trainer_kwargs
from skp.tune.pruners import DEFAULT_PRUNER, PrunerSettings, resolve_pruner_settings


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
    if args.promote_seeds < 0 or (args.promote_seeds and not args.promote):
        raise SkpError(f"--promote-seeds S trains each trial --promote K promotes with S >= 1 other seeds: give --promote K and S >= 1, "
                       f"got --promote-seeds {args.promote_seeds} with --promote {args.promote}.")
    if args.warm_start is not None:
        from skp.tune.warm_start import parse

        parse(args.warm_start)
    elif args.warm_start_storage is not None:
        raise SkpError("--warm-start-storage names the storage of --warm-start's study; give --warm-start STUDY[:K] too.")
    if args.race is not None:
        if not args.promote or args.race < args.promote:
            raise SkpError(f"--race N starts N candidates and keeps at least --promote K of them: give --promote K and N >= K, got --race {args.race} with --promote {args.promote}.")
        if args.promote_by == "ensemble":
            raise SkpError("--race stops trials that lose alone, and --promote-by ensemble picks trials for what they add to a blend: a race would stop the complements it chose. Use --race with --promote-by value.")
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
