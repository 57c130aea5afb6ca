"""Running skp-tune once its options are checked: open (or resume) the study, start the
workers on their slots (CPU or GPUs) or the Ray backend, run the seed check and
promotion, and report."""

from __future__ import annotations

import os
import sys

from skp.errors import SkpError, require
from skp.tune.options import TuneOptions, check_folds, check_gpus, prepare, promotion_folds, ray_options
from skp.tune.pruners import describe_pruner


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


def serve_dashboard(options: TuneOptions, host: str, port: int) -> None:
    from skp.tune.study import make_storage

    optuna_dashboard = require("optuna_dashboard", "tune", "--dashboard")

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
    if args.warm_start:
        from skp.tune.warm_start import parse, warm_start

        warm_start(study, *parse(args.warm_start), args.warm_start_storage, space)
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


def run_promotion(argv: list[str], args, options: TuneOptions, cfg, study) -> None:
    """Train the missing folds of the chosen trials on the backend's worker slots, then
    record their cross-validated values."""
    from skp.tune import promote

    if cfg.prepare_data is not None:
        cfg.prepare_data(cfg)
    folds = promotion_folds(args, cfg)
    chosen = promote.choose_trials(study, args.race or args.promote, args.promote_by)
    if args.race:
        from skp.tune.race import check_raceable

        check_raceable(study, chosen, folds)
    baseline = promote.record_promotion(study, chosen, args.promote_by, folds, race_keep=args.promote if args.race else None,
                                        seeds=args.promote_seeds)["baseline"]
    missing = promote.missing_jobs(study)
    reference = f", and the baseline (trial {baseline}) as the reference," if baseline not in (None, *[t.number for t in chosen]) else ""
    race = f", racing them to keep at least {args.promote}" if args.race else ""
    seeds = f", each kept one with {args.promote_seeds} more seed(s)" if args.promote_seeds else ""
    print(
        f"skp-tune: promoting trials {', '.join(str(t.number) for t in chosen)} (by {args.promote_by}){reference} "
        f"to folds {','.join(map(str, folds))}{race}{seeds}: {len(missing)} fold(s) to train{' in this round' if args.race else ''}"
    )
    if missing and args.backend == "ray":
        from skp.tune.ray_backend import run_ray_promotion

        run_ray_promotion(options, ray_options(args), study)
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
