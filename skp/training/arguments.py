"""The Lightning Trainer flags every training command takes (skp-train, skp-tune), with
their parsers: `--limit_train_batches 0.5` is a fraction, `2` a count."""

from __future__ import annotations

import argparse


def _number(text: str):
    value = float(text)
    return int(value) if value.is_integer() and "." not in text else value


def _devices(text: str):
    return int(text) if text.isdigit() else text


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _bool(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError("write True or False")
    return text.lower() == "true"


# Lightning Trainer arguments accepted on the command line, with their parsers.
TRAINER_FLAGS = {
    "accelerator": str,
    "devices": _devices,
    "num_nodes": int,
    "precision": str,
    "strategy": str,
    "limit_train_batches": _number,
    "limit_val_batches": _number,
    "num_sanity_val_steps": int,
    "accumulate_grad_batches": int,
    "gradient_clip_val": _non_negative,
    "log_every_n_steps": int,
    "deterministic": _bool,
    "benchmark": _bool,
    "enable_progress_bar": _bool,
}


def add_trainer_arguments(parser: argparse.ArgumentParser, title: str) -> None:
    group = parser.add_argument_group(title)
    for flag, kind in TRAINER_FLAGS.items():
        group.add_argument(f"--{flag}", type=kind, default=None)


def trainer_kwargs(args) -> dict:
    """The Trainer flags given on the command line."""
    return {flag: getattr(args, flag) for flag in TRAINER_FLAGS if getattr(args, flag) is not None}
