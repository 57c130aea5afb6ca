"""Parallel workers on one study: distinct proposals, best value, recovery after kill -9.

1. For 1, 2, 4 and 8 CPU workers, TPE with and without the constant liar, several
   sampler seeds: --trials tiny trials of digits (one epoch of a few batches) over the
   config's whole space (num_epochs fixed). Prints the fraction of distinct parameter
   sets among finished trials, and the best value after all trials (mean ± std over
   seeds).
2. With 2 workers, kill -9 one worker mid-trial; prints how long its trial stayed
   RUNNING (until the driver failed it) and how long until its retry started training.

    python tests/benchmarks/bench_tune_workers.py [--trials 8] [--seeds 0,1] [--workers 1,2,4,8]
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

TINY = ["--num_epochs", "1", "--limit_train_batches", "3", "--limit_val_batches", "2", "--enable_progress_bar", "False",
        "--pruner", "none", "--no-baseline", "--no-export"]


def _study(name):
    import optuna

    from skp.tune.study import make_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=make_storage(None, name))


def tune(name: str, workers: int, seed: int, liar: bool, trials: int, extra=()) -> subprocess.Popen:
    command = [sys.executable, "-m", "skp.tune.cli", "digits.cfg_baseline", "--study", name, "--trials", str(trials),
               "--workers", str(workers), "--seed", str(seed), *TINY, *extra, *([] if liar else ["--no-constant-liar"])]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def proposals(args) -> None:
    from optuna.trial import TrialState

    print(f"\n{args.trials} tiny trials per study, seeds {args.seeds}")
    print("| workers | constant liar | distinct parameter sets | best log loss (mean ± std) | minutes |")
    print("|---|---|---|---|---|")
    for workers in args.workers:
        for liar in (True, False):
            distinct, best, started = [], [], time.time()
            for seed in args.seeds:
                name = f"w{workers}-{'liar' if liar else 'plain'}-s{seed}"
                assert tune(name, workers, seed, liar, args.trials).wait() == 0, name
                done = [t for t in _study(name).trials if t.state == TrialState.COMPLETE]
                distinct.append(len({tuple(sorted(t.params.items())) for t in done}) / len(done))
                best.append(min(t.value for t in done))
            spread = statistics.stdev(best) if len(best) > 1 else float("nan")
            print(f"| {workers} | {'on' if liar else 'off'} | {statistics.fmean(distinct):.0%} | "
                  f"{statistics.fmean(best):.3f} ± {spread:.3f} | {(time.time() - started) / 60:.1f} |")


def recovery() -> None:
    from optuna.trial import TrialState

    name = "kill"
    driver = tune(name, 2, 0, True, 4, ["--num_epochs", "8"])
    victim = None
    while victim is None:
        time.sleep(0.2)
        try:
            running = [t for t in _study(name).trials if t.state == TrialState.RUNNING and t.intermediate_values]
        except KeyError:
            continue
        victim = running[0] if running else None
    os.kill(victim.system_attrs["skp:pid"], signal.SIGKILL)
    killed = time.time()
    failed_after = retry_after = None
    while retry_after is None:
        time.sleep(0.1)
        trials = _study(name).trials
        if failed_after is None and trials[victim.number].state == TrialState.FAIL:
            failed_after = time.time() - killed
        retry = [t for t in trials if t.user_attrs.get("retry_of") == victim.number and t.datetime_start]
        if retry:
            retry_after = retry[0].datetime_start.timestamp() - killed
    assert driver.wait() == 0
    print(f"\nkill -9 of a worker mid-trial (2 workers): its trial was failed after {failed_after:.1f} s; "
          f"the retry started {retry_after:.1f} s after the kill, on the restarted worker or the survivor")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--workers", default="1,2,4,8")
    args = parser.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.workers = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as root:
        os.environ.update({"SKP_DATA_DIR": os.environ.get("SKP_DATA_DIR", f"{root}/data"),
                           "SKP_SAVE_DIR": f"{root}/runs", "SKP_STUDIES_DIR": f"{root}/studies", "CUDA_VISIBLE_DEVICES": ""})
        proposals(args)
        recovery()


if __name__ == "__main__":
    main()
