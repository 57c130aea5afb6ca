"""Inference budget speed: weighing every candidate by its expected test score (log loss)
against by its OOF score alone (accuracy, the baseline), side by side in this process.

Synthetic class probabilities: --members members (every non-empty set of them is a
candidate, 2^M - 1, up to skp.ensemble.budget.MAX_SUBSET_MEMBERS), two TTA views, five
fold checkpoints each, --oof-rows OOF rows and --test-rows test rows of --classes
classes. With log loss each candidate also gets the pooling gain of its fold models on
the test rows (skp.ensemble.fold_pooling); with accuracy only its OOF score.

    python tests/benchmarks/bench_budget_speed.py [--members 10 --oof-rows 20000 --test-rows 20000 --classes 10]
"""

import argparse
import time

import numpy as np

from skp.ensemble.budget import candidates
from skp.oof.scoring import Scorer

VIEWS = ["none", "hflip"]
CHECKPOINTS = 5


def probabilities(rng, rows: int, classes: int) -> np.ndarray:
    x = rng.random((rows, classes)).astype(np.float32)
    return x / x.sum(1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--oof-rows", type=int, default=20_000)
    parser.add_argument("--test-rows", type=int, default=20_000)
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    pieces = [{"oof": {v: probabilities(rng, args.oof_rows, args.classes) for v in VIEWS},
               "test": {v: [probabilities(rng, args.test_rows, args.classes) for _ in range(CHECKPOINTS)] for v in VIEWS}}
              for _ in range(args.members)]
    costs = [{"views": {v: {"load": 1e-4, "models": [1e-3] * CHECKPOINTS} for v in VIEWS}} for _ in range(args.members)]
    targets = rng.integers(0, args.classes, (args.oof_rows, 1))
    everything = args.members * CHECKPOINTS * 1e-3 * args.test_rows * len(VIEWS) * 2
    # untimed: the first pass over freshly allocated arrays runs slower, whichever scorer it uses
    candidates(pieces, costs, VIEWS, Scorer("accuracy", "max", "multiclass", targets, "classification.Accuracy"), everything, args.test_rows)
    for label, budget in (("half of everything", everything / 4), ("everything fits", everything)):
        seconds = {}
        for metric, name, direction in (("classification.Accuracy", "accuracy", "max"), ("classification.LogLoss", "logloss", "min")):
            scorer = Scorer(name, direction, "multiclass", targets, metric)
            started = time.perf_counter()
            found, over = candidates(pieces, costs, VIEWS, scorer, budget, args.test_rows)
            seconds[name] = time.perf_counter() - started
            print(f"{label}, {name}: {len(found)} candidates within the budget, {len(over)} over it, weighed in {seconds[name]:.1f} s")
        print(f"{label}: the expected test score (log loss) took {seconds['logloss'] / seconds['accuracy']:.1f}x the time of the OOF score alone (accuracy)")

if __name__ == "__main__":
    main()
