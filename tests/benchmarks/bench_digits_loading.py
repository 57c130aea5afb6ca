"""Data loading on digits: num_workers 0 (the config's choice) against 2 worker processes.

Side by side in one process, two figures for each setting:
- loader alone: images/s of full passes over fold 0's training set;
- training: seconds for a fold of `--epochs` epochs through skp-train's own loop,
  where worker processes compete with the model for this machine's cores.

    python tests/benchmarks/bench_digits_loading.py [--epochs 3]
"""

import argparse
import tempfile
import time

from skp.configs import load_config
from skp.tasks.data import build_datasets, build_loader
from skp.training.folds import train_folds


def loader_images_per_second(num_workers: int, epochs: int) -> float:
    cfg = load_config("digits.cfg_baseline", ["--num_workers", str(num_workers)])
    cfg.prepare_data(cfg)
    train, _ = build_datasets(cfg)
    loader = build_loader(cfg, train, train=True)
    started, seen = time.perf_counter(), 0
    for _ in range(epochs):  # the first epoch includes worker start-up, as in training
        for batch in loader:
            seen += len(batch["x"])
    return seen / (time.perf_counter() - started)


def training_seconds(num_workers: int, epochs: int) -> float:
    with tempfile.TemporaryDirectory() as save_dir:
        overrides = ["--num_workers", str(num_workers), "--num_epochs", str(epochs), "--save_dir", save_dir]
        started = time.perf_counter()
        train_folds("digits.cfg_baseline", overrides, trainer_kwargs={"enable_progress_bar": False})
        return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    loader = {w: loader_images_per_second(w, args.epochs) for w in (2, 0)}
    training = {w: training_seconds(w, args.epochs) for w in (2, 0)}
    print(f"{'':24}{'loader images/s':>18}{'training s':>14}")
    print(f"{'num_workers=2 (baseline)':24}{loader[2]:18.0f}{training[2]:14.1f}")
    print(f"{'num_workers=0 (config)':24}{loader[0]:18.0f}{training[0]:14.1f}")
    print(f"{'ratio config/baseline':24}{loader[0] / loader[2]:18.2f}{training[2] / training[0]:14.2f}  (>1: config faster)")


if __name__ == "__main__":
    main()
