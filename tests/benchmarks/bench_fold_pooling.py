"""Does the expected test score (skp.ensemble.fold_pooling) choose better submissions
under an inference budget than the OOF score did? Fashion-MNIST, bench_fashion_loop.py's
runs, from the cached predictions (no training, no inference once the loop has run).

For each training seed whose runs exist: every candidate the budget weighs (member sets
of the top trials and the baseline, with each number of fold checkpoints that their
measured costs allow) gets its OOF log loss, its expected test log loss (OOF less the
label-free pooling gain of its fold models) and its log loss on the 10,000 test labels.
Printed per seed:
- the rank agreement (Spearman) of OOF and of the expected score with the test score,
  over every candidate;
- at budgets of 1 to 20 models' inference time, the test log loss of the candidate the
  budget chooses by the expected score (what skp-ensemble --budget does now) and by the
  OOF score (before: most checkpoints that fit, member sets compared by OOF), beside
  the best any candidate within the budget reaches on test.

    python tests/benchmarks/bench_fold_pooling.py --root bench-fashion [--seeds 42,43,44]
"""

import argparse
import json
import statistics
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from bench_fashion_loop import CONFIG, work_in  # this folder: run as a script
from scipy.stats import spearmanr

MODELS = (1, 2, 3, 4, 5, 8, 10, 15, 20)  # budgets, in the mean cost of one fold model on the test set


def pieces_of(root: Path, labels: list[str], seed: int):
    """Members' pieces and measured costs, as skp-ensemble's budget weighs them, and the test labels."""
    from skp.ensemble import Recipe, Run
    from skp.ensemble.costs import member_cost
    from skp.ensemble.pipeline import (
        PredictionCache,
        Predictor,
        build_reference,
        ensembles_root,
        load_all_oof,
        load_test_set,
        progress_bar,
        resolve_members,
    )

    runs = [root / "experiments" / CONFIG.replace(".", "/") / f"bench-{label}-seed{seed}" for label in labels]
    recipe = Recipe(members=[Run(path=str(run)) for run in runs], output=str(root / "bench-ensembles" / "fold-pooling"))
    members = resolve_members(recipe)
    reference = build_reference(members, recipe.folds)
    load_all_oof(members, reference)
    test = load_test_set(recipe, reference.cfg)
    predictor = Predictor(recipe, reference, test.ids, PredictionCache(ensembles_root() / ".cache"))
    with progress_bar() as progress:
        for member in members:
            predictor.predict(member, progress)
    for member in members:  # the plain view's OOF is the member's oof.csv
        predictor.pieces[member.name].setdefault("oof", {})["none"] = member.oof
    cfg = reference.cfg
    solution = pd.read_csv(Path(cfg.data_dir) / cfg.solution_file).set_index(cfg.id_column).loc[list(test.ids)]
    costs = [member_cost(predictor.costs.get(m.name)) for m in members]
    return [predictor.pieces[m.name] for m in members], costs, reference, solution[cfg.targets[0]].to_numpy()


def evaluate(root: Path, labels: list[str], seed: int) -> dict:
    from skp.ensemble.budget import Candidate, candidates, choose
    from skp.ensemble.fold_pooling import pooling_gain
    from skp.oof.fast_metrics import logloss
    from skp.oof.scoring import Scorer

    pieces, costs, reference, test_labels = pieces_of(root, labels, seed)
    scorer = Scorer("logloss", "min", "multiclass", np.asarray(reference.targets).reshape(-1, 1), "classification.LogLoss")
    images = len(test_labels)
    model_seconds = statistics.fmean(m * images for c in costs for m in c["views"]["none"]["models"])

    def on_test(candidate) -> float:
        pred = np.mean([np.mean(pieces[m]["test"]["none"][: candidate.checkpoints], axis=0) for m in candidate.members], axis=0)
        return logloss(pred, test_labels.reshape(-1, 1), "multiclass")

    table = []
    for size in range(1, len(pieces) + 1):
        for members in combinations(range(len(pieces)), size):
            score = scorer(np.mean([pieces[m]["oof"]["none"] for m in members], axis=0))
            for c in range(1, 6):
                tests = [np.stack(pieces[m]["test"]["none"][:c]) for m in members]
                expected = score - (pooling_gain(lambda preds: np.mean(preds, axis=0), tests, "multiclass") if c > 1 else 0.0)
                candidate = Candidate(members, 1, c, 0.0, score, expected)
                table.append({"members": [labels[m] for m in members], "checkpoints": c, "oof": score, "expected": expected,
                              "test": on_test(candidate)})
    budgets = []
    for models in MODELS:
        budget = models * model_seconds * (1 + 1e-6)
        found, _ = candidates(pieces, costs, ["none"], scorer, budget, images)
        if not found:
            continue
        by_expected = choose(found, scorer.better)
        by_oof = min(found, key=lambda c: (c.score, c.seconds))
        best = min(on_test(c) for c in found)
        budgets.append({"models": models, "expected": on_test(by_expected), "oof": on_test(by_oof), "best": best,
                        "chosen_expected": f"{'+'.join(labels[m] for m in by_expected.members)} x{by_expected.checkpoints}",
                        "chosen_oof": f"{'+'.join(labels[m] for m in by_oof.members)} x{by_oof.checkpoints}"})
    return {"candidates": table, "budgets": budgets}


def report(seed: int, result: dict) -> None:
    table = result["candidates"]
    test = [r["test"] for r in table]
    print(f"\nseed {seed}: {len(table)} candidates; Spearman with the test log loss: OOF {spearmanr([r['oof'] for r in table], test)[0]:.2f}, "
          f"expected {spearmanr([r['expected'] for r in table], test)[0]:.2f}")
    print("\n| budget (fold models) | chosen by the expected score | its test log loss | chosen by OOF | its test log loss | best within the budget |")
    print("|---|---|---|---|---|---|")
    for b in result["budgets"]:
        print(f"| {b['models']} | {b['chosen_expected']} | {b['expected']:.4f} | {b['chosen_oof']} | {b['oof']:.4f} | {b['best']:.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="bench_fashion_loop.py's --root")
    parser.add_argument("--seeds", default="42,43,44")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    results = json.loads((root / "results.json").read_text())
    labels = [m["label"] for m in results["top"]] + ["baseline"]
    work_in(root)
    for seed in [int(s) for s in args.seeds.split(",")]:
        if not all(f"{label}|{seed}" in results["rows"] for label in labels):
            print(f"\nseed {seed}: not every run is scored yet ({', '.join(labels)}); skipped")
            continue
        report(seed, evaluate(root, labels, seed))


if __name__ == "__main__":
    main()
