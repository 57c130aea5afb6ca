"""skp-train: train a config on one or more folds.

    skp-train digits.cfg_baseline --kfold 0,1,2,3,4 --optimizer_params.lr 3e-3
    python skp/train.py digits.cfg_baseline --debug
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # `python skp/train.py`: import skp from the repository, not skp/ itself
    # (skp/datasets would otherwise shadow the Hugging Face package of that name).
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from skp.errors import SkpError, exit_status
from skp.training.arguments import add_trainer_arguments, trainer_kwargs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skp-train",
        description="Train a config (<root>/<project>/<cfg>.py in ./configs, $SKP_CONFIGS_DIR or skp's "
        "examples, or any config file by path) on one or more folds. "
        "Any other --attribute VALUE overrides the config.",
        allow_abbrev=False,
    )
    parser.add_argument("config", nargs="?", help="project.cfg_name (e.g. digits.cfg_baseline) or a config file's path")
    parser.add_argument("--reproduce", metavar="RUN", help="train a recorded run again into a new run id: its run directory, or STUDY:TRIAL")
    parser.add_argument("--kfold", help="comma-separated folds to train, e.g. 0,1,2,3,4 (default: cfg.fold)")
    parser.add_argument("--run_id", help="run directory name (default: a hash of config file and overrides)")
    parser.add_argument("--overwrite_run", action="store_true", help="delete the run directory and start again")
    parser.add_argument("--debug", action="store_true", help="2 batches, 1 epoch, no workers, no Neptune")
    parser.add_argument("--verbose", action="store_true", help="show libraries' messages and the model summary (else in each fold's console.log)")
    add_trainer_arguments(parser, "Lightning Trainer")
    return parser


def reproduce_run(args, override_tokens) -> int:
    from skp.training.reproduce import reproduce
    from skp.training.folds import train_folds

    given = [flag for flag, value in (("a config", args.config), ("--kfold", args.kfold), ("--run_id", args.run_id)) if value]
    if given or override_tokens or trainer_kwargs(args) or args.debug or args.overwrite_run:
        raise SkpError(
            "--reproduce takes everything from the run's run.json; drop the config name, "
            "overrides and other flags, or train with them as a new run without --reproduce."
        )
    study, colon, number = args.reproduce.rpartition(":")
    if colon and study and number.isdigit():
        from skp.tune.study import trial_run_dir

        directory = trial_run_dir(args.reproduce)
    else:
        directory = Path(args.reproduce)
    rows = reproduce(directory, train_folds)
    return 0 if all(r["identical"] for r in rows) else 1


def train(args, override_tokens) -> int:
    if args.reproduce:
        return reproduce_run(args, override_tokens)
    if not args.config:
        raise SkpError("Name a config to train (e.g. skp-train digits.cfg_baseline), or a run to repeat with --reproduce RUN.")
    from skp.console import command_display
    from skp.training.folds import check_finite, train_folds

    with command_display(args.verbose):
        results = train_folds(
            args.config,
            override_tokens,
            kfold=args.kfold,
            run_id=args.run_id,
            overwrite_run=args.overwrite_run,
            debug=args.debug,
            trainer_kwargs=trainer_kwargs(args),
        )
    check_finite(results)
    return 0


def main(argv=None) -> int:
    args, override_tokens = build_parser().parse_known_args(argv)
    return exit_status("skp-train", lambda: train(args, override_tokens), "run the same command again to resume.")


if __name__ == "__main__":
    sys.exit(main())
