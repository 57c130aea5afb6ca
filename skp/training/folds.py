"""The training loop behind skp-train: folds, run directories, resume, summary."""

from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path

import lightning.pytorch as pl
import torch

from skp.callbacks.run_artifacts import RESUME_FILE, BackgroundCheckpointIO, RunArtifacts
from skp.console import LOG_FILE, epoch_lines_callback, is_terminal, libraries_to, log_model_summary, show_fold_progress, verbose
from skp.configs import load_config
from skp.configs.overrides import override_pairs
from skp.configs.predecessor import check_seed_names, plain_transforms_warning
from skp.errors import SkpError
from skp.files import write_text
from skp.loggers import build_loggers
from skp.metrics import monitored
from skp.registry import resolve
from skp.training.runs import (
    default_run_id,
    fold_claim,
    fold_state,
    prepare_run_dir,
    read_done,
    run_fingerprint,
    write_done,
    write_history,
)
from skp.tasks.data import build_datasets, build_loader
from skp.tasks.seeding import INIT, derive_seed

REQUIRED = ("task", "model", "dataset", "loss", "num_epochs", "batch_size", "val_metric", "val_track")
DEBUG_TRAINER = {"limit_train_batches": 2, "limit_val_batches": 2, "num_sanity_val_steps": 0}


def check_config(cfg) -> None:
    missing = [name for name in REQUIRED if getattr(cfg, name) is None]
    if missing:
        raise SkpError(f"{cfg.config_name} does not set {', '.join('cfg.' + m for m in missing)}; every training config needs them.")
    if not isinstance(cfg.seed, int) or isinstance(cfg.seed, bool) or cfg.seed < 0:
        raise SkpError(f"cfg.seed must be a non-negative integer (every random source is seeded from it), got {cfg.seed!r}.")
    if cfg.val_track not in ("max", "min"):
        raise SkpError(f"cfg.val_track must be 'max' or 'min', got {cfg.val_track!r}.")
    if cfg.select_epoch not in ("best", "last"):
        raise SkpError(
            f"cfg.select_epoch must be 'best' (the epoch with the best val_metric) or 'last' (the final epoch), "
            f"got {cfg.select_epoch!r}. It chooses the epoch whose weights, OOF predictions and value the fold keeps."
        )
    check_seed_names(cfg)
    check_counts(cfg)


def check_counts(cfg) -> None:
    """Sizes and counts, named here, before a library fails on them deep inside."""
    problems = []
    for name, required, least in (("batch_size", True, 1), ("num_epochs", True, 1), ("image_height", False, 1),
                                  ("image_width", False, 1), ("num_classes", False, 1), ("num_workers", False, 0)):
        value = getattr(cfg, name)
        if value is None and not required:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            problems.append(f"cfg.{name} must be a whole number of at least {least}, got {value!r}")
    if cfg.dropout is not None and not (isinstance(cfg.dropout, (int, float)) and 0 <= cfg.dropout < 1):
        problems.append(f"cfg.dropout must be a probability from 0 up to (not including) 1, got {cfg.dropout!r}")
    lr = (cfg.optimizer_params or {}).get("lr")
    if lr is not None and not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        problems.append(f"cfg.optimizer_params['lr'] must be a positive number, got {lr!r}")
    if problems:
        raise SkpError(f"{cfg.config_name}: " + "; ".join(problems) + ". Fix the config or the override.")


def _log_interval(batches: int, trainer_kwargs: dict) -> int:
    """Lightning's 50 steps, or fewer so that short epochs still log training values."""
    limit = trainer_kwargs.get("limit_train_batches")
    if isinstance(limit, int):
        batches = min(batches, limit)
    elif isinstance(limit, float):
        batches = int(batches * limit)
    return max(1, min(50, batches))


def gpu_precision() -> dict:
    """bf16 mixed precision by default where the GPU supports it (Ampere and later): the
    same range as float32, so no loss scaling, at about twice the matrix throughput.
    --precision on the command line wins; a CPU keeps float32."""
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return {"precision": "bf16-mixed"}
    return {}


def build_trainer(**kwargs) -> pl.Trainer:
    """Lightning's Trainer; flags it refuses (--precision 17, --accelerator gpu without a
    GPU) are the user's input, so they end in one paragraph."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    flags = {k: kwargs[k] for k in ("accelerator", "devices", "precision", "strategy", "num_nodes") if k in kwargs}
    try:
        return pl.Trainer(**kwargs)
    except (MisconfigurationException, ValueError) as err:
        raise SkpError(f"Lightning refuses the Trainer flags {flags}: {err} Fix the --accelerator, --devices, --precision or --strategy flag.") from None


def fit_fold(cfg, fold_dir: Path, trainer_kwargs: dict, resume: bool = False, callbacks=(), tuning: bool = False,
             keep_state: bool = False, save_state: bool = True) -> dict:
    """Train one fold into `fold_dir`; return its summary (also written to done.json).

    `resume` starts from the fold's resume.ckpt. `tuning` (a trial) writes only what a
    study uses: best weights, OOF predictions, CSV history; the curves live in Optuna.
    `save_state` writes resume.ckpt after every epoch (for a re-run, or a trial's retry).
    `keep_state` leaves the final state in resume.ckpt, for training on with a longer
    schedule (a continued rung: cfg.num_epochs larger, `resume`).
    """
    fold_dir.mkdir(parents=True, exist_ok=True)
    write_text(fold_dir / "config.json", cfg.to_json())
    pl.seed_everything(derive_seed(cfg.seed, cfg.fold, INIT), verbose=False)  # weight init
    train_set, val_set = build_datasets(cfg)
    train_loader, val_loader = build_loader(cfg, train_set, True), build_loader(cfg, val_set, False)
    task = resolve("tasks", cfg.task)(cfg)
    artifacts = RunArtifacts(fold_dir, monitored(cfg), cfg.val_track, tuning=tuning, select=cfg.select_epoch, save_state=save_state)
    # a progress bar on a terminal; elsewhere (a file, a pipe) a plain line per epoch
    progress = show_fold_progress()
    kwargs = {"accelerator": "auto", "log_every_n_steps": _log_interval(len(train_loader), trainer_kwargs), **gpu_precision(),
              "enable_progress_bar": progress and is_terminal(), "enable_model_summary": verbose(), **trainer_kwargs}
    if progress and not kwargs["enable_progress_bar"]:
        callbacks = [*callbacks, epoch_lines_callback(f"skp-train: fold {cfg.fold} ")]
    log_file = fold_dir / LOG_FILE
    with libraries_to(log_file):
        trainer = build_trainer(
            max_epochs=cfg.num_epochs,
            logger=build_loggers(cfg, fold_dir, tensorboard=not tuning),
            callbacks=[artifacts, *callbacks],
            enable_checkpointing=False,
            default_root_dir=fold_dir,
            plugins=[BackgroundCheckpointIO(artifacts.writer)],
            **kwargs,
        )
        log_model_summary(log_file, task)
        started = time.time()
        trainer.fit(task, train_loader, val_loader, ckpt_path=fold_dir / RESUME_FILE if resume else None)
    artifacts.writer.flush()
    write_history(fold_dir)
    summary = {
        "fold": cfg.fold,
        "val_metric": cfg.val_metric,
        "best_value": artifacts.best_value,
        "best_epoch": artifacts.best_epoch,
        "select_epoch": cfg.select_epoch,
        "epochs": trainer.current_epoch,
        "num_epochs": cfg.num_epochs,  # the schedule's length: a tuning trial's rung (fold_state)
        "seconds": round(time.time() - started, 1),
        "fold_dir": str(fold_dir),
        "train_samples": len(train_set),
        "val_samples": len(val_set),
    }
    write_done(fold_dir, summary)
    if keep_state:  # after write_done, which removes an unfinished fold's resume file
        trainer.save_checkpoint(fold_dir / RESUME_FILE, weights_only=False)
        artifacts.writer.submit()
        artifacts.writer.flush()
    return summary


def print_summary(config_name: str, results: list[dict], run_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    metric, select = results[0]["val_metric"], results[0].get("select_epoch", "best")
    table = Table(title=f"{config_name}  ({run_dir})")
    for column in ("fold", f"{select} {metric}", f"{select} epoch", "epochs", "train/val", "seconds"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            str(r["fold"]), "not finite" if r["best_value"] is None else f"{r['best_value']:.4f}", str(r["best_epoch"]), str(r["epochs"]),
            f"{r['train_samples']}/{r['val_samples']}", f"{r['seconds']:.0f}",
        )
    values = [r["best_value"] for r in results if r["best_value"] is not None]
    if len(values) > 1:
        spread = statistics.stdev(values)
        table.add_row("mean", f"{statistics.mean(values):.4f} ± {spread:.4f}", "", "", "", f"{sum(r['seconds'] for r in results):.0f}")
    Console().print(table)


def parse_folds(text: str | None, default: int) -> list[int]:
    if text is None:
        return [default]
    try:
        return [int(f) for f in text.split(",") if f.strip()]
    except ValueError:
        raise SkpError(f"--kfold takes comma-separated integers such as 0,1,2,3,4, got {text!r}.") from None


def train_folds(
    config_name: str,
    override_tokens: list[str],
    kfold: str | None = None,
    run_id: str | None = None,
    overwrite_run: bool = False,
    debug: bool = False,
    trainer_kwargs: dict | None = None,
    callbacks=(),
) -> list[dict]:
    """What `skp-train` does; returns one summary dict per fold.

    `callbacks` are extra Lightning callbacks for every fold (tuning adds pruning).
    """
    overrides = override_pairs(override_tokens)
    cfg = load_config(config_name, overrides)
    trainer_kwargs = dict(trainer_kwargs or {})
    if debug:
        cfg.num_epochs, cfg.num_workers, cfg.neptune_mode = 1, 0, None
        trainer_kwargs = {**DEBUG_TRAINER, **trainer_kwargs}
    check_config(cfg)
    warning = plain_transforms_warning(cfg, {key for key, _ in overrides})
    if warning:
        print(f"skp-train: warning: {warning}", file=sys.stderr)
    folds = parse_folds(kfold, cfg.fold)
    if cfg.prepare_data is not None:
        cfg.prepare_data(cfg)
    fingerprint = run_fingerprint(cfg, overrides, debug, trainer_kwargs)
    run_id = run_id or ("debug" if debug else default_run_id(fingerprint))
    directory = prepare_run_dir(
        cfg, run_id, fingerprint, overwrite=overwrite_run or debug, overrides=overrides, trainer_kwargs=trainer_kwargs, debug=debug
    )
    # under skp-tune (a seed check) the command prints its own line per run instead
    announce = show_fold_progress()
    if announce:
        print(f"skp-train: {cfg.config_name} -> {directory}")
    results, busy = {}, []
    for fold in folds:
        with fold_claim(directory, fold) as mine:
            if mine:
                results[fold] = _train_or_read(cfg, fold, directory, trainer_kwargs, callbacks, announce)
            else:
                busy.append(fold)
    for fold in busy:  # another command trains them: wait for it, then read its result
        print(f"skp-train: fold {fold} of {directory} is being trained by another process; waiting for it.", flush=True)
        with fold_claim(directory, fold, wait=True):
            results[fold] = _train_or_read(cfg, fold, directory, trainer_kwargs, callbacks, announce)
    results = [results[fold] for fold in folds]
    if announce:
        print_summary(cfg.config_name, results, directory)
    return results


def _train_or_read(cfg, fold: int, directory: Path, trainer_kwargs: dict, callbacks, announce: bool) -> dict:
    """A finished fold's summary, else the fold trained (resumed when it can be); call
    holding the fold's claim."""
    fold_cfg = cfg.copy()
    fold_cfg.fold = fold
    fold_dir = directory / f"fold{fold}"
    state = fold_state(fold_dir)
    if state == "done":
        if announce:
            print(f"skp-train: fold {fold} already finished in {fold_dir}; skipping (--overwrite_run retrains).")
        return read_done(fold_dir)
    if state == "resumable":
        print(f"skp-train: resuming fold {fold} from {fold_dir / RESUME_FILE}")
    return fit_fold(fold_cfg, fold_dir, trainer_kwargs, resume=state == "resumable", callbacks=callbacks)


def check_finite(results: list[dict]) -> None:
    """skp-train's end: a fold whose monitored value was never finite is an error with the reason."""
    diverged = [r for r in results if r["best_value"] is None]
    if diverged:
        where = Path(diverged[0]["fold_dir"]).parent
        raise SkpError(
            f"val/{diverged[0]['val_metric']} was never finite in fold(s) {', '.join(str(r['fold']) for r in diverged)} "
            f"of {where}: the model diverged (NaN or infinite loss). Lower the learning rate (--optimizer_params.lr) "
            f"or check the data and loss; --overwrite_run trains the run again."
        )
