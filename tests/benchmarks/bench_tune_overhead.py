"""skp-tune against the hand-written Optuna + Lightning script, side by side.

Both run as fresh processes (each pays its own start-up and imports) on digits
fold 0 with the same search space (lr and weight decay; the number of epochs fixed),
model, epochs, trials, TPE seed and MedianPruner.

    python tests/benchmarks/bench_tune_overhead.py [--trials 6] [--epochs 3] [--repeats 1]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed(command, env) -> tuple[float, str]:
    """Wall seconds of the command and the last line it printed."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - started, (done.stdout.strip().splitlines() or [""])[-1]


def epochs_of_study(name: str, studies_dir: str) -> int:
    """Epochs trained over all trials: pruning may differ between the two runs."""
    import optuna

    backend = optuna.storages.journal.JournalFileBackend(f"{studies_dir}/{name}/journal.log")
    study = optuna.load_study(study_name=name, storage=optuna.storages.JournalStorage(backend))
    return sum(len(t.intermediate_values) for t in study.trials)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        env = {**os.environ, "SKP_DATA_DIR": f"{root}/data", "SKP_SAVE_DIR": f"{root}/runs", "SKP_STUDIES_DIR": f"{root}/studies"}
        from skp.configs import load_config

        os.environ.update(env)
        cfg = load_config("digits.cfg_baseline")
        cfg.prepare_data(cfg)
        bare = [sys.executable, str(HERE / "handwritten_optuna_lightning.py"), cfg.data_dir, "--trials", str(args.trials), "--epochs", str(args.epochs)]
        results = {"hand-written script": [], "skp-tune": []}
        for repeat in range(args.repeats):
            skp = [
                sys.executable, "-m", "skp.tune.cli", "digits.cfg_baseline", "--study", f"bench{repeat}",
                "--trials", str(args.trials), "--num_epochs", str(args.epochs), "--seed", "0",
                "--enable_progress_bar", "False", "--no-export",
            ]
            seconds, last_line = timed(bare, env)
            results["hand-written script"].append(seconds)
            results["skp-tune"].append(timed(skp, env)[0])
            epochs = epochs_of_study(f"bench{repeat}", env["SKP_STUDIES_DIR"])
            print(
                f"repeat {repeat}: script {seconds:.1f} s ({last_line}); "
                f"skp-tune {results['skp-tune'][-1]:.1f} s (epochs {epochs}); ratio {results['skp-tune'][-1] / seconds:.2f}"
            )
    print(f"{args.trials} trials x {args.epochs} epochs, {args.repeats} repeats (best / median):")
    (base, base_median), (ours, ours_median) = ((min(v), statistics.median(v)) for v in results.values())
    print(f"  hand-written Optuna + Lightning: {base:7.1f} s / {base_median:7.1f} s")
    print(f"  skp-tune                       : {ours:7.1f} s / {ours_median:7.1f} s")
    print(f"  ratio skp-tune / hand-written  : {ours / base:7.2f}   / {ours_median / base_median:7.2f}")


if __name__ == "__main__":
    main()
