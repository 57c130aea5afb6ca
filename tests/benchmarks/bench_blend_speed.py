"""Blend speed at Kaggle scale: greedy selection over 20 members on 100k OOF rows, AUROC.

Synthetic binary predictions (members share part of their error, as real ones do).
Times, side by side in this process:
- fit_greedy: one fit of greedy forward selection with replacement (25 rounds),
- blend: what skp-ensemble runs for blend="greedy": the fit on all rows plus one per
  held-out fold for the cross-validated OOF score (6 fits),
each with the NumPy twin of classification.AUROC (skp's default) and with the metric
class itself (torchmetrics; the baseline), and checks both pick the same weights.

    python tests/benchmarks/bench_blend_speed.py [--rows 100000 --members 20 --rounds 25]
"""

import argparse
import time

import numpy as np

from skp.configs import Config
from skp.ensemble.blend import blend, fit_greedy
from skp.oof.scoring import Scorer


def synthetic(rows: int, members: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.3).astype(float)
    shared = rng.normal(size=rows)
    preds = []
    for m in range(members):
        noise = 0.6 * shared + rng.normal(scale=1.0 + 0.05 * m, size=rows)
        preds.append((1 / (1 + np.exp(-(1.5 * (y - 0.3) + noise))))[:, None])
    return preds, y[:, None], np.arange(rows) % 5


def timed(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    preds, targets, folds = synthetic(args.rows, args.members)
    rows = np.arange(args.rows)
    cfg = Config()
    scorers = {
        "NumPy twin": Scorer("auc", "max", "binary", targets, "classification.AUROC"),
        "metric class (baseline)": Scorer("auc", "max", "binary", targets, "classification.AUROC", cfg, twin=False),
    }
    print(f"{args.members} members, {args.rows} rows, binary AUROC, {args.rounds} greedy rounds")
    print("| scorer | fit_greedy s | blend (6 fits) s | OOF AUROC of the blend |")
    print("|---|---|---|---|")
    results = {}
    for label, scorer in scorers.items():
        fit_seconds, weights = timed(lambda: fit_greedy(preds, scorer, rows, args.rounds))
        blend_seconds, result = timed(lambda: blend("greedy", preds, preds, scorer, folds, "binary", rounds=args.rounds))
        results[label] = (fit_seconds, blend_seconds, weights)
        print(f"| {label} | {fit_seconds:.2f} | {blend_seconds:.2f} | {scorer(result.oof):.5f} |")
    (fast_fit, fast_blend, fast_w), (slow_fit, slow_blend, slow_w) = results.values()
    print(f"speed-up: fit_greedy {slow_fit / fast_fit:.1f}x, blend {slow_blend / fast_blend:.1f}x; "
          f"same weights: {np.allclose(fast_w, slow_w)}")


if __name__ == "__main__":
    main()
