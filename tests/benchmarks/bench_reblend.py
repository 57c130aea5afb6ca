"""Re-blending from the shell: `skp-ensemble RECIPE --blend ...` once members are predicted.

Trains two small digits members (five folds, one short epoch each) in a temporary root,
runs the recipe once (inference, cached), then times whole commands, alternated:
- full path, predictions cached (the baseline): the snapshot is removed first, so the
  command resolves members, loads configs, builds datasets and reads the prediction cache;
- snapshot: the next command, which blends from blend_inputs.npz.

    python tests/benchmarks/bench_reblend.py [--repeats 5]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECIPE = """from skp.ensemble import Recipe, Run
recipe = Recipe(members=[Run("digits.cfg_baseline", run_id="bench"), Run("digits.cfg_regnet", run_id="bench")])
"""


def command(*argv):
    return [sys.executable, "-m", "skp.ensemble.cli", "digits.ens_bench", *argv]


def timed(argv) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="skp-reblend-"))
    for key in ("SKP_DATA_DIR", "SKP_SAVE_DIR", "SKP_ENSEMBLES_DIR"):
        os.environ[key] = str(root / key.lower())
    from skp.training.folds import train_folds

    for name in ("digits.cfg_baseline", "digits.cfg_regnet"):
        train_folds(name, ["--num_epochs", "1"], kfold="0,1,2,3,4", run_id="bench",
                    trainer_kwargs={"limit_train_batches": 3, "enable_progress_bar": False})
    recipe_dir = Path(os.environ["SKP_ENSEMBLES_DIR"]) / "digits"
    recipe_dir.mkdir(parents=True)
    (recipe_dir / "ens_bench.py").write_text(RECIPE)
    print(f"first run (inference): {timed(command()):.1f} s")
    snapshot = recipe_dir / "ens_bench" / "blend_inputs.json"
    full, fast = [], []
    for i in range(args.repeats):
        method = ("mean", "greedy")[i % 2]
        snapshot.unlink()
        full.append(timed(command("--blend", method)))
        fast.append(timed(command("--blend", method)))
    print(f"| path | median s ({args.repeats} runs) | min s |")
    print("|---|---|---|")
    print(f"| full, predictions cached (baseline) | {statistics.median(full):.2f} | {min(full):.2f} |")
    print(f"| snapshot | {statistics.median(fast):.2f} | {min(fast):.2f} |")
    print(f"speed-up: {statistics.median(full) / statistics.median(fast):.1f}x")


if __name__ == "__main__":
    main()
