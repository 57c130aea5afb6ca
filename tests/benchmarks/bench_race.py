"""Fold racing in promotion, replayed on candidates already trained on every fold: which
would `--race` stop, after which fold, what compute it saves, and whether the exported
trial stays the same.

The candidates are bench_fashion_loop.py's top trials (the baseline is the race's
reference and never stops), at each training seed it ran. Rounds follow promotion's
order (folds 0..4, fold 0 the study's search fold, which the decision does not count);
after each round but the last, skp.tune.race.losers, the rule `skp-tune --promote K
--race N` applies, stops the candidates at least K others beat on every counted fold and
beyond the noise. A stopped candidate would not train its later folds: those epochs
(from each fold's done.json) are the compute saved. The exported trial is the best by
CV (the OOF log loss over the five folds) among the survivors, against the best among
all candidates (promotion without a race).

    python tests/benchmarks/bench_race.py --root bench-fashion [--seeds 42,43,44] [--keep 1,2]
"""

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

FOLDS = (0, 1, 2, 3, 4)
SEARCH_FOLDS = {0}


def fold_rows(run: Path, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """(per-row log loss, ids) of a run's fold, rows sorted by id so that runs pair up."""
    from skp.oof.fast_metrics import logloss_rows

    oof = pd.read_csv(run / f"fold{fold}" / "oof.csv").sort_values("id")
    columns = [c for c in oof.columns if c.startswith("pred_")]
    return logloss_rows(oof[columns].to_numpy(), oof[["target"]].to_numpy(), "multiclass"), oof["id"].to_numpy()


def fold_epochs(run: Path, fold: int) -> int:
    return json.loads((run / f"fold{fold}" / "done.json").read_text())["epochs"]


def replay(runs: dict[str, Path], keep: int, alpha: float) -> dict:
    """The race among `runs` ({label: run dir}) keeping `keep`: {stopped: {label: (after
    folds, p, behind)}, saved and total epochs of the promotion folds, exported labels}."""
    from skp.tune.race import MIN_ROUNDS, losers

    values = {label: {f: fold_rows(run, f)[0] for f in FOLDS} for label, run in runs.items()}
    live, stopped = list(runs), {}
    for i in range(len(FOLDS) - 1):  # no decision follows the last round
        counted = [f for f in FOLDS[: i + 1] if f not in SEARCH_FOLDS]
        if len(counted) < MIN_ROUNDS or len(live) <= keep:
            continue
        row_folds = np.concatenate([np.full(len(values[live[0]][f]), f) for f in counted])
        joined = {n: np.concatenate([values[live[n]][f] for f in counted]) for n in range(len(live))}
        for n, (p, behind) in losers(joined, row_folds, keep, alpha).items():
            stopped[live[n]] = (list(FOLDS[: i + 1]), p, [live[b] for b in behind])
        live = [label for label in live if label not in stopped]
    promotion_folds = [f for f in FOLDS if f not in SEARCH_FOLDS]
    total = sum(fold_epochs(run, f) for run in runs.values() for f in promotion_folds)
    saved = sum(fold_epochs(runs[label], f) for label, (after, _, _) in stopped.items() for f in promotion_folds if f not in after)
    cv = {label: float(np.concatenate(list(values[label].values())).mean()) for label in runs}
    return {"stopped": stopped, "saved": saved, "total": total, "exported": min(live, key=cv.get), "exported_without": min(runs, key=cv.get)}


def main() -> None:
    from skp.tune.race import ALPHA

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="bench_fashion_loop.py's root (results.json, experiments/)")
    parser.add_argument("--seeds", default="42,43,44")
    parser.add_argument("--keep", default="1,2", help="K values of --promote K to replay")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    top = json.loads((root / "results.json").read_text())["top"]
    labels = [m["label"] for m in top if m["label"] != "baseline"]
    experiments = root / "experiments" / "fashion" / "cfg_baseline"
    print(f"candidates: {', '.join(labels)}; alpha {ALPHA}")
    print("\n| seed | keep | stopped (after folds; p; behind) | epochs saved / promotion epochs | exported with the race | without |")
    print("|---|---|---|---|---|---|")
    for seed in map(int, args.seeds.split(",")):
        runs = {label: experiments / f"bench-{label}-seed{seed}" for label in labels}
        for keep in map(int, args.keep.split(",")):
            r = replay(runs, keep, ALPHA)
            stops = "; ".join(f"{label} (after {','.join(map(str, after))}; {p:.2g}; {', '.join(behind)})"
                              for label, (after, p, behind) in r["stopped"].items()) or "none"
            print(f"| {seed} | {keep} | {stops} | {r['saved']} / {r['total']} ({100 * r['saved'] / r['total']:.0f}%) "
                  f"| {r['exported']} | {r['exported_without']} |")


if __name__ == "__main__":
    main()
