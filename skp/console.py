"""What skp's commands show on the terminal, and what goes to each fold's console.log.

skp's own lines (a trial's result, a fold's epochs, warnings about the user's config or
data) are printed. Libraries' chatter is kept out of the terminal: Lightning's device
lines and tips, library warnings (deprecations, Optuna's experimental-feature notes) and
the model summary go to `<fold>/console.log`, written while the fold trains.
`--verbose` (or SKP_VERBOSE=1, which worker processes inherit) shows them too.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

VERBOSE_ENV = "SKP_VERBOSE"
# "0": the command prints a line per trial or fold (skp-tune), not each fold's epochs
FOLD_PROGRESS_ENV = "SKP_FOLD_PROGRESS"
LOG_FILE = "console.log"
# Lightning logs through these; lightning.pytorch and lightning.fabric hold its stderr handler
LIBRARY_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning_fabric", "py.warnings")


@contextmanager
def command_display(verbose: bool, fold_progress: bool = True):
    """A command's display settings, through the environment so that its worker processes
    and Ray tasks see them too; restored when the command returns (tests call commands
    in one process)."""
    saved = {key: os.environ.get(key) for key in (VERBOSE_ENV, FOLD_PROGRESS_ENV)}
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    if not fold_progress:
        os.environ[FOLD_PROGRESS_ENV] = "0"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV) == "1"


def show_fold_progress() -> bool:
    return verbose() or os.environ.get(FOLD_PROGRESS_ENV) != "0"


def is_terminal(stream=None) -> bool:
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty()


def quiet_optuna(optuna) -> None:
    """skp chooses Optuna's experimental features (grouped multivariate TPE, QMC) on
    purpose: their notes say nothing the user can act on. Optuna's log repeats each failed
    trial with a traceback; skp's trial line already gives the reason."""
    if verbose():
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        return
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


@contextmanager
def libraries_to(log_file: Path):
    """While the block runs, library log records and Python warnings go to `log_file`
    (appended: a resumed fold keeps what came before), and to the terminal only when
    verbose."""
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    saved = []
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate, list(logger.handlers)))
        logger.setLevel(min(logger.level or logging.INFO, logging.INFO))
        if not verbose():
            logger.handlers = [h for h in logger.handlers if not isinstance(h, logging.StreamHandler) or isinstance(h, logging.FileHandler)]
            logger.propagate = False
        logger.addHandler(handler)
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # each distinct warning once per location, as Python does
        logging.captureWarnings(True)  # warnings.showwarning -> the py.warnings logger
        try:
            yield
        finally:
            logging.captureWarnings(False)
            for logger, level, propagate, handlers in saved:
                logger.setLevel(level)
                logger.propagate = propagate
                logger.handlers = handlers
            handler.close()


def log_model_summary(log_file: Path, model) -> None:
    """The table Lightning prints at every fit, into the fold's log instead."""
    from lightning.pytorch.utilities.model_summary import ModelSummary

    with open(log_file, "a", encoding="utf-8") as handle:
        handle.write(f"{time.strftime('%H:%M:%S')} model summary\n{ModelSummary(model, max_depth=1)}\n")


def epoch_lines_callback(prefix: str):
    """A Lightning callback printing one plain line per validated epoch, for output that is
    not a terminal (a progress bar there is a stream of control characters)."""
    import lightning.pytorch as pl

    class EpochLines(pl.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            self.started = time.time()

        def on_validation_end(self, trainer, pl_module):  # after the module logged its epoch metrics
            if trainer.sanity_checking:
                return
            values = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(("val/", "train/loss"))}
            shown = "  ".join(f"{k} {v:.4f}" for k, v in sorted(values.items()))
            seconds = time.time() - getattr(self, "started", time.time())
            print(f"{prefix}epoch {trainer.current_epoch + 1}/{trainer.max_epochs}  {shown}  {seconds:.0f} s", flush=True)

    return EpochLines()


def progress_bar():
    """A rich progress display (description, bar, done/total, time left) for counted work."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
