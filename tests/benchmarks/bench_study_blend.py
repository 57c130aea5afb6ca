"""From study to submission on digits: do promoted trials, and blends of them, beat the baseline?

For each study seed (the sampler's; every trial trains with the config's seed):

    skp-tune digits.cfg_baseline --study bench-blend-<seed> --seed <seed> --trials T --pruner none --no-export
    skp-tune digits.cfg_baseline --study bench-blend-<seed> --promote K --promote-by value
    skp-tune digits.cfg_baseline --study bench-blend-<seed> --promote K --promote-by ensemble

and once `skp-train digits.cfg_baseline --kfold 0,1,2,3,4` (the baseline on every fold).
Each entry is scored by skp-ensemble's own pipeline on all five folds:
- baseline; the best trial by its study value (fold 0), promoted; the promoted trial
  with the best mean over folds (what skp-tune exports as the tuned config);
- blends (--methods: greedy forward selection, mean, geometric mean) of the top 3 and
  top 5 trials promoted by value and by ensemble.
CV log loss of a blend is cross-validated (each fold blended with weights fitted on the
other folds); CV accuracy uses the weights fitted on all OOF rows; test scores use
solution.csv, which nothing was fitted or selected on. Compute: epochs and seconds of
training behind each entry (the study's trials, then the promoted folds it uses).

    python tests/benchmarks/bench_study_blend.py [--study-seeds 42,43] [--trials 16] [--root DIR]
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

CONFIG = "digits.cfg_baseline"
FOLDS = "0,1,2,3,4"
TOPS = (3, 5)
NOISE_FACTOR = 2.0


def run(*argv) -> None:
    subprocess.run([sys.executable, "-m", *argv, "--enable_progress_bar", "False"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def study_and_promotions(seed: int, trials: int, overrides: list) -> tuple[dict, list]:
    """{'value': trial run dirs in promotion order, 'ensemble': ..., 'cv': [the run with the
    best mean over folds of all promoted trials, the baseline included]}, and every trial's run dir."""
    import optuna

    from skp.tune.promote import cv_records, promotion
    from skp.tune.study import make_storage

    name = f"bench-blend-{seed}"
    run("skp.tune.cli", CONFIG, "--study", name, "--seed", str(seed), "--trials", str(trials), "--pruner", "none", "--no-export", *overrides)
    order = {}
    for by in ("value", "ensemble"):
        run("skp.tune.cli", CONFIG, "--study", name, "--promote", str(max(TOPS)), "--promote-by", by, "--no-export")
        study = optuna.load_study(study_name=name, storage=make_storage(None, name))
        runs = [Path(t.user_attrs["run_dir"]) for t in study.get_trials(deepcopy=False)]
        order[by] = [runs[n] for n in promotion(study)["trials"]]
    cv = cv_records(study)
    order["cv"] = [runs[min(cv, key=lambda n: cv[n]["mean"])]]
    finished = [Path(t.user_attrs["run_dir"]) for t in study.get_trials(deepcopy=False) if t.user_attrs.get("run_dir")]
    return order, finished


def baseline_run(overrides: list) -> Path:
    from skp.training.folds import train_folds

    results = train_folds(CONFIG, overrides, kfold=FOLDS, run_id="bench-baseline", trainer_kwargs={"enable_progress_bar": False})
    return Path(results[0]["fold_dir"]).parent


def compute(run_dirs, folds=(0, 1, 2, 3, 4)) -> tuple[int, float]:
    epochs = seconds = 0
    for directory in run_dirs:
        for fold in folds:
            done = directory / f"fold{fold}" / "done.json"
            if done.is_file():
                summary = json.loads(done.read_text())
                epochs, seconds = epochs + summary["epochs"], seconds + summary["seconds"]
    return epochs, seconds


def score(members: list[Path], output: Path, method: str) -> dict:
    from skp.configs import load_config
    from skp.ensemble import Recipe, Run
    from skp.ensemble.pipeline import run_ensemble

    summary = run_ensemble(Recipe(members=[Run(path=str(m)) for m in members], blend=method, output=str(output), name=output.name))
    cfg = load_config(CONFIG)
    frame = pd.read_csv(Path(cfg.data_dir) / cfg.annotations_file).set_index(cfg.id_column)
    oof = pd.read_csv(output / "oof.csv").set_index(cfg.id_column)
    columns = [c for c in oof.columns if c.startswith("pred_")]
    cv_accuracy = float((oof[columns].to_numpy().argmax(1) == frame.loc[oof.index, cfg.targets[0]].to_numpy()).mean())
    solution = pd.read_csv(Path(cfg.data_dir) / cfg.solution_file)
    test = pd.read_csv(output / "test_predictions.csv").set_index(cfg.id_column).loc[solution[cfg.id_column]]
    test_accuracy = float((test.to_numpy().argmax(1) == solution[cfg.targets[0]].to_numpy()).mean())
    best_member_test = min(m["test"] for m in summary["members"])
    return {
        "cv_logloss": summary["blend"]["oof_cross_validated"],
        "cv_accuracy": cv_accuracy,
        "test_logloss": summary["blend"]["test"],
        "test_accuracy": test_accuracy,
        "best_member_test_logloss": best_member_test,
    }


def mean_std(values) -> str:
    std = statistics.stdev(values) if len(values) > 1 else math.nan
    return f"{statistics.fmean(values):.4f} ± {std:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study-seeds", default="42,43")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--methods", default="greedy,mean,geometric")
    parser.add_argument("--epochs", type=int, help="fix num_epochs (a quick check of the script; the figures use the search)")
    parser.add_argument("--root", help="keeps studies, runs and predictions (default: a temporary folder)")
    args = parser.parse_args()
    root = Path(args.root or tempfile.mkdtemp(prefix="skp-bench-blend-"))
    for key in ("SKP_SAVE_DIR", "SKP_STUDIES_DIR", "SKP_ENSEMBLES_DIR"):
        os.environ[key] = str(root / key.lower())
    os.environ.setdefault("SKP_DATA_DIR", str(root / "data"))
    overrides = ["--num_epochs", str(args.epochs)] if args.epochs else []
    baseline = baseline_run(overrides)
    rows = []
    for seed in (int(s) for s in args.study_seeds.split(",")):
        order, trials = study_and_promotions(seed, args.trials, overrides)
        study_epochs, study_seconds = compute(trials, folds=(0,))
        entries = {
            "baseline": ([baseline], "mean"),
            "best trial by fold-0 value": (order["value"][:1], "mean"),
            "best promoted trial by CV (the exported config)": (order["cv"], "mean"),
        }
        for by in ("value", "ensemble"):
            for k in TOPS:
                for method in args.methods.split(","):
                    entries[f"{method} blend, top {k} by {by}"] = (order[by][:k], method)
        for label, (members, method) in entries.items():
            folder = root / "scores" / f"{seed}-{label.replace(' ', '_').replace(',', '')}"
            row = {"entry": label, "seed": seed, **score(members, folder, method)}
            extra_epochs, extra_seconds = compute(members, folds=(1, 2, 3, 4))
            own = label == "baseline"
            row["epochs"] = compute(members)[0] if own else study_epochs + extra_epochs
            row["seconds"] = compute(members)[1] if own else study_seconds + extra_seconds
            rows.append(row)
            print(f"seed {seed} {label}: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items() if k not in ("entry", "seed")), flush=True)

    print("\n| entry | CV log loss | CV accuracy | test log loss | test accuracy | best member's test log loss | epochs | train seconds |")
    print("|---|---|---|---|---|---|---|---|")
    labels = list(dict.fromkeys(r["entry"] for r in rows))
    for label in labels:
        mine = [r for r in rows if r["entry"] == label]
        cells = [mean_std([r[k] for r in mine]) for k in ("cv_logloss", "cv_accuracy", "test_logloss", "test_accuracy", "best_member_test_logloss")]
        cells += [f"{statistics.fmean(r['epochs'] for r in mine):.0f}", f"{statistics.fmean(r['seconds'] for r in mine):.0f}"]
        print(f"| {label} | " + " | ".join(cells) + " |")
    for label in labels[1:]:
        mine = [r for r in rows if r["entry"] == label]
        gains = [r["best_member_test_logloss"] - r["test_logloss"] for r in mine]
        base = [r["test_logloss"] for r in rows if r["entry"] == "baseline"]
        print(f"{label}: test log loss {np.mean([r['test_logloss'] for r in mine]):.4f} vs baseline {np.mean(base):.4f}; "
              f"gain over its best member on test, by seed: {', '.join(f'{g:+.4f}' for g in gains)}")


if __name__ == "__main__":
    main()
