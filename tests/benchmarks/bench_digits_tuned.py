"""Does the tuned digits config beat the baseline? 5-fold CV and held-out test, over seeds.

Trains every config in --configs on five folds with each seed (skp-train skips folds
already finished, so a re-run only scores), then scores
- CV: log loss and accuracy of the five folds' out-of-fold predictions together
  (each fold at its best epoch); also the log loss of folds 1-4 alone, which a study
  tuned on fold 0 never saw,
- test: the mean of the five fold models' probabilities on test.csv (skp-ensemble,
  `blend="mean"` over one member), scored against solution.csv, which nothing was
  fitted or selected on; and "one model": each fold model's own test log loss,
  averaged over the five, which compares with CV (a fold mean narrows the gaps).
It prints every seed, then mean ± std per config, and whether each config beats the
first by more than twice the seed-to-seed spread (pooled standard deviation).

    python tests/benchmarks/bench_digits_tuned.py --configs digits.cfg_baseline \\
        studies/digits.cfg_baseline/cfg_baseline_tuned.py --seeds 42,43,44 [--root DIR]
"""

import argparse
import copy
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FOLDS = "0,1,2,3,4"
NOISE_FACTOR = 2.0


def log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    picked = probabilities[np.arange(len(labels)), labels.astype(int)]
    return float(-np.log(np.clip(picked, 1e-15, 1.0)).mean())


def scores(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    return log_loss(probabilities, labels), float((probabilities.argmax(1) == labels).mean())


def train(config: str, seed: int) -> tuple[Path, float]:
    from skp.training.folds import train_folds

    started = time.time()
    results = train_folds(config, ["--seed", str(seed)], kfold=FOLDS, run_id=f"bench-seed{seed}", trainer_kwargs={"enable_progress_bar": False})
    return Path(results[0]["fold_dir"]).parent, time.time() - started


def cv_scores(run: Path) -> tuple[float, float, float]:
    """Log loss and accuracy of every fold's OOF predictions, and log loss of folds 1-4."""
    oof = pd.concat([pd.read_csv(f) for f in sorted(run.glob("fold*/oof.csv"))])
    columns = [c for c in oof.columns if c.startswith("pred_")]
    unseen = oof[oof.fold != 0]
    return (*scores(oof[columns].to_numpy(), oof.target.to_numpy()), log_loss(unseen[columns].to_numpy(), unseen.target.to_numpy()))


def test_scores(config: str, seed: int, output: Path) -> tuple[float, float]:
    from skp.configs import load_config
    from skp.ensemble import Recipe, Run
    from skp.ensemble.pipeline import run_ensemble

    run_ensemble(Recipe(members=[Run(config, run_id=f"bench-seed{seed}")], blend="mean", output=str(output), name="bench"))
    cfg = load_config(config)
    solution = pd.read_csv(Path(cfg.data_dir) / cfg.solution_file)
    predicted = pd.read_csv(output / "test_predictions.csv").set_index(cfg.id_column).loc[solution[cfg.id_column]]
    return scores(predicted.to_numpy(), solution[cfg.targets[0]].to_numpy())


def single_model_test_scores(config: str, run: Path) -> float:
    """Mean over the five fold models of each one's own test log loss: a single model, as
    CV scores it, where the fold mean above is a five-model blend that narrows the gaps."""
    from skp.configs import load_config
    from skp.ensemble.predict import build_dataset, build_task, inference_config, inference_loader, load_weights, run_inference

    cfg = inference_config(load_config(config, [("seed", "42")]), "inference", None, None, None)
    task, dataset = build_task(cfg), build_dataset(cfg, "inference")
    models = []
    for fold_dir in sorted(run.glob("fold*/")):
        model = copy.deepcopy(task.model)
        model.load_state_dict(load_weights(fold_dir / "best.pt", "validated"))
        models.append(model)
    preds = run_inference(task, models, inference_loader(dataset, cfg, None))
    solution = pd.read_csv(Path(cfg.data_dir) / cfg.solution_file).set_index(cfg.id_column)
    labels = solution.loc[dataset.ids, cfg.targets[0]].to_numpy()
    return statistics.fmean(log_loss(pred, labels) for pred in preds)


def summarize(rows: list[dict], configs: list[str]) -> None:
    print("\n| config | seed | CV log loss | CV log loss, folds 1-4 | CV accuracy | test log loss | test accuracy | test log loss, one model | train seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['seed']} | {r['cv_logloss']:.4f} | {r['cv14_logloss']:.4f} | {r['cv_accuracy']:.4f} | "
              f"{r['test_logloss']:.4f} | {r['test_accuracy']:.4f} | {r['test1_logloss']:.4f} | {r['seconds']:.0f} |")
    print("\n| config | CV log loss | CV log loss, folds 1-4 | CV accuracy | test log loss | test accuracy | test log loss, one model |")
    print("|---|---|---|---|---|---|---|")
    stats = {}
    for config in configs:
        mine = [r for r in rows if r["config"] == config]
        stats[config] = {}
        cells = []
        for key in ("cv_logloss", "cv14_logloss", "cv_accuracy", "test_logloss", "test_accuracy", "test1_logloss"):
            values = [r[key] for r in mine]
            std = statistics.stdev(values) if len(values) > 1 else math.nan
            stats[config][key] = (statistics.fmean(values), std)
            cells.append(f"{stats[config][key][0]:.4f} ± {std:.4f}")
        print(f"| {config} | " + " | ".join(cells) + " |")
    reference = configs[0]
    for config in configs[1:]:
        for key in ("cv_logloss", "cv14_logloss", "test_logloss", "test1_logloss"):
            (base, base_std), (mean, std) = stats[reference][key], stats[config][key]
            spread = math.sqrt((base_std**2 + std**2) / 2)
            gain = base - mean
            ratio = gain / spread if spread > 0 else math.inf
            verdict = "beyond the noise" if gain > NOISE_FACTOR * spread else "within the noise"
            print(f"{config} vs {reference}, {key}: gain {gain:.4f} = {ratio:.1f}x the seed spread ({spread:.4f}): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["digits.cfg_baseline", "studies/digits.cfg_baseline/cfg_baseline_tuned.py"])
    parser.add_argument("--seeds", default="42,43,44")
    parser.add_argument("--root", help="keeps runs and predictions (default: SKP_SAVE_DIR or a temporary folder)")
    args = parser.parse_args()
    root = Path(args.root or os.environ.get("SKP_SAVE_DIR") or tempfile.mkdtemp(prefix="skp-bench-"))
    os.environ["SKP_SAVE_DIR"] = str(root)
    os.environ.setdefault("SKP_ENSEMBLES_DIR", str(root / "ensembles"))
    rows = []
    for config in args.configs:
        for seed in (int(s) for s in args.seeds.split(",")):
            run, seconds = train(config, seed)
            cv_loss, cv_acc, cv14_loss = cv_scores(run)
            test_loss, test_acc = test_scores(config, seed, root / "bench-test" / f"{config}-seed{seed}")
            rows.append({"config": config, "seed": seed, "cv_logloss": cv_loss, "cv14_logloss": cv14_loss, "cv_accuracy": cv_acc,
                         "test_logloss": test_loss, "test_accuracy": test_acc, "test1_logloss": single_model_test_scores(config, run),
                         "seconds": seconds})
    summarize(rows, args.configs)


if __name__ == "__main__":
    main()
