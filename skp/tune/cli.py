"""skp-tune: search a config's hyperparameters with parallel, pruned, resumable trials.

    skp-tune digits.cfg_baseline --trials 20
    skp-tune boneage.cfg_baseline --trials 100 --gpus 0,1,2,3 --trials-per-gpu 2
    skp-tune boneage.cfg_baseline --trials 100 --backend ray --address auto --gpus-per-trial 0.5
    skp-tune digits.cfg_baseline --promote 3       # the 3 best trials on every fold
    skp-tune digits.cfg_baseline --promote 1 --promote-seeds 2   # the best trial on every fold at 3 seeds
    skp-tune digits.cfg_baseline --report          # table, plots, tuned config
    skp-tune digits.cfg_baseline --dashboard       # optuna-dashboard on 127.0.0.1
"""

from __future__ import annotations

import argparse
import sys

from skp.errors import exit_status
from skp.training.arguments import add_trainer_arguments
from skp.tune.promote import PROMOTE_BY
from skp.tune.pruners import DEFAULT_PRUNER, PRUNERS, SETTINGS, WARMUP_SHARE
# TuneOptions here too: Ray experiment states saved before it moved to skp.tune.options
# name it skp.tune.cli.TuneOptions, and a restored experiment unpickles it from here.
from skp.tune.options import TuneOptions  # noqa: F401
from skp.tune.run import tune
from skp.tune.study import SAMPLERS


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
    parser.add_argument("--warm-start", metavar="STUDY[:K]", help="queue the K best parameter sets of an earlier study (default 5) that fit this space; with the same space its trials also inform the sampler")
    parser.add_argument("--warm-start-storage", metavar="STORAGE", help="the earlier study's storage (default: studies/<STUDY>/journal.log)")
    parser.add_argument("--workers", type=int, help="worker processes on CPU (default 1)")
    parser.add_argument("--gpus", help="GPU ids to use, e.g. 0,1,2,3 (default: all visible)")
    parser.add_argument("--trials-per-gpu", type=int, default=1, help="concurrent trials on each GPU")
    parser.add_argument("--stale-after", type=float, default=600.0, help="seconds without heartbeat before a trial counts as dead and is retried (sent every stale-after/4 s, at most 60)")
    parser.add_argument("--max-failures", type=int, default=3, help="a worker stops after this many failed trials in a row")
    parser.add_argument("--no-export", action="store_true", help="do not write the best trial as a config file")
    parser.add_argument("--no-baseline", action="store_true", help="do not run the config's own settings as the study's first trial")
    parser.add_argument("--confirm", type=int, default=0, metavar="K", help="re-train the K best trials and the baseline on --confirm-seeds extra seeds; rank by the mean")
    parser.add_argument("--confirm-seeds", type=int, default=2, metavar="S", help="extra seeds per trial for --confirm (default 2)")
    parser.add_argument("--promote", type=int, default=0, metavar="K", help="train the K best finished trials on every fold (--promote-folds), in their run directories")
    parser.add_argument("--promote-by", default="value", choices=PROMOTE_BY, help="value: the K best values; ensemble: greedy ensemble selection on their out-of-fold predictions")
    parser.add_argument("--promote-folds", help="folds of promoted trials (default: every fold of the config's fold column)")
    parser.add_argument("--promote-seeds", type=int, default=0, metavar="S", help="train each promoted trial again on every fold with S other seeds (its seed + 1, ..., + S), to blend with Study(..., seeds=True)")
    parser.add_argument("--race", type=int, metavar="N", help="start N >= K candidates and train their folds round by round; a candidate stops once K others beat it beyond the noise (paired per-row test)")
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


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, tokens = build_parser().parse_known_args(argv)
    from skp.console import command_display

    def body():
        with command_display(args.verbose, fold_progress=False):  # a line per trial and fold instead
            return tune(argv, args, tokens)

    return exit_status("skp-tune", body, "re-run the same command to continue: the trials in flight resume from "
                                         "their last finished epoch.")


if __name__ == "__main__":
    sys.exit(main())
