"""Data loading on digits: num_workers 0 (the config's choice) against 2 worker processes.

Times full passes over fold 0's training set through the same DataLoader code that
skp-train uses, side by side in one process, and prints images/s and the ratio.

    python tests/benchmarks/bench_digits_loading.py [--epochs 3]
"""

import argparse
import time

from skp.configs import load_config
from skp.tasks.data import build_datasets, build_loader


def images_per_second(num_workers: int, epochs: int) -> float:
    cfg = load_config("digits.cfg_baseline", ["--num_workers", str(num_workers)])
    cfg.prepare_data(cfg)
    train, _ = build_datasets(cfg)
    loader = build_loader(cfg, train, train=True)
    started, seen = time.perf_counter(), 0
    for _ in range(epochs):  # the first epoch includes worker start-up, as in training
        for batch in loader:
            seen += len(batch["x"])
    return seen / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    baseline = images_per_second(2, args.epochs)
    ours = images_per_second(0, args.epochs)
    print(f"num_workers=2 (baseline): {baseline:8.0f} images/s")
    print(f"num_workers=0 (config)  : {ours:8.0f} images/s")
    print(f"ratio config/baseline   : {ours / baseline:8.2f}")


if __name__ == "__main__":
    main()
