"""Parallel scaling of skp-tune on this machine: 1 against 2 CPU worker processes.

Same study settings for both (no pruning, so every trial does the same work);
reports finished trials per hour.

    python tests/benchmarks/bench_tune_parallel.py [--trials 6] [--epochs 2]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time


def trials_per_hour(workers: int, args, env) -> float:
    command = [
        sys.executable, "-m", "skp.tune.cli", "digits.cfg_baseline", "--study", f"parallel{workers}",
        "--trials", str(args.trials), "--num_epochs", str(args.epochs), "--pruner", "none",
        "--workers", str(workers), "--enable_progress_bar", "False", "--no-export",
    ]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return args.trials / (time.perf_counter() - started) * 3600


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        env = {**os.environ, "SKP_DATA_DIR": f"{root}/data", "SKP_SAVE_DIR": f"{root}/runs", "SKP_STUDIES_DIR": f"{root}/studies"}
        one = trials_per_hour(1, args, env)
        two = trials_per_hour(2, args, env)
    print(f"{args.trials} trials x {args.epochs} epochs on {os.cpu_count()} cores")
    print(f"  1 worker : {one:6.0f} trials/hour")
    print(f"  2 workers: {two:6.0f} trials/hour")
    print(f"  speed-up : {two / one:6.2f}")


if __name__ == "__main__":
    main()
