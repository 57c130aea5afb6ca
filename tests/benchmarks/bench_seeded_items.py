"""The cost of seeding every item: skp's loader against the same loader without seeding.

skp's training loader wraps the dataset in `SeededItems` (each item drawn under a seed
from (seed, fold, epoch, index), albumentations and the global generators included) and
orders it with `EpochKeys`. The baseline is a plain DataLoader over the same dataset
with `shuffle=True`, nothing seeded per item. Both run in this process, alternated, over
full passes of digits' fold 0 training set (1149 images, decoded once and cached).

    python tests/benchmarks/bench_seeded_items.py [--epochs 5] [--repeats 3] [--num_workers 0]
"""

import argparse
import statistics
import time

from torch.utils.data import DataLoader

from skp.configs import load_config
from skp.tasks.data import build_datasets, build_loader


def images_per_second(loader, epochs: int) -> float:
    started, seen = time.perf_counter(), 0
    for epoch in range(epochs):
        if hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)
        for batch in loader:
            seen += len(batch["x"])
    return seen / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num_workers", type=int, default=0)
    args = parser.parse_args()
    cfg = load_config("digits.cfg_baseline", ["--num_workers", str(args.num_workers)])
    cfg.prepare_data(cfg)
    train, _ = build_datasets(cfg)
    seeded = build_loader(cfg, train, train=True)
    plain = DataLoader(train, batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                       num_workers=args.num_workers, persistent_workers=args.num_workers > 0)
    images_per_second(plain, 1)  # warm the image cache for both
    rows = []
    for _ in range(args.repeats):
        rows.append((images_per_second(plain, args.epochs), images_per_second(seeded, args.epochs)))
    print(f"{'repeat':>6}{'plain images/s':>16}{'seeded images/s':>17}{'ratio':>8}")
    for i, (a, b) in enumerate(rows):
        print(f"{i:>6}{a:16.0f}{b:17.0f}{b / a:8.2f}")
    print(f"{'median':>6}{statistics.median(a for a, _ in rows):16.0f}{statistics.median(b for _, b in rows):17.0f}"
          f"{statistics.median(b / a for a, b in rows):8.2f}  (seeded / plain; < 1: seeding costs)")


if __name__ == "__main__":
    main()
