"""Compute saved by the default pruner (median) against none, over several seeds.

For each seed, the same study settings run once with --pruner median and once with
--pruner none; the figures are epochs trained (summed over trials) and the best value.

    python tests/benchmarks/bench_tune_pruning.py [--seeds 0,1,2] [--trials 12] [--epochs 4]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

import optuna


def run(pruner: str, seed: int, args, env) -> tuple[int, float]:
    study = f"{pruner}-{seed}"
    command = [
        sys.executable, "-m", "skp.tune.cli", "digits.cfg_baseline", "--study", study, "--seed", str(seed),
        "--trials", str(args.trials), "--num_epochs", str(args.epochs), "--pruner", pruner,
        "--limit_train_batches", str(args.batches), "--enable_progress_bar", "False", "--no-export",
    ]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(f"{env['SKP_STUDIES_DIR']}/{study}/journal.log")
    )
    trials = optuna.load_study(study_name=study, storage=storage).trials
    epochs = sum(len(t.intermediate_values) for t in trials)
    best = max(t.value for t in trials if t.state == optuna.trial.TrialState.COMPLETE)
    return epochs, best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batches", type=int, default=8, help="training batches per epoch")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as root:
        env = {**os.environ, "SKP_DATA_DIR": f"{root}/data", "SKP_SAVE_DIR": f"{root}/runs", "SKP_STUDIES_DIR": f"{root}/studies"}
        for seed in (int(s) for s in args.seeds.split(",")):
            pruned_epochs, pruned_best = run("median", seed, args, env)
            full_epochs, full_best = run("none", seed, args, env)
            rows.append((seed, pruned_epochs, full_epochs, pruned_best, full_best))
    print(f"{args.trials} trials x {args.epochs} epochs x {args.batches} batches per seed")
    print(f"{'seed':>4} {'epochs median':>14} {'epochs none':>12} {'saved':>7} {'best median':>12} {'best none':>10}")
    for seed, pe, fe, pb, fb in rows:
        print(f"{seed:>4} {pe:>14} {fe:>12} {1 - pe / fe:>7.0%} {pb:>12.4f} {fb:>10.4f}")
    saved = statistics.mean(1 - r[1] / r[2] for r in rows)
    gap = statistics.mean(r[3] - r[4] for r in rows)
    print(f"mean compute saved {saved:.0%}, mean best-value difference (median - none) {gap:+.4f}")


if __name__ == "__main__":
    main()
