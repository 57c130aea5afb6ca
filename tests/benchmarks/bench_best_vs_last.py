"""Best epoch or last epoch: what selecting on validation does to the value and to test.

For finished 5-fold runs of a digits config (trained without tuning, so each fold kept
both best.pt and last.pt), prints per run
- validation log loss, mean over the folds, at each fold's best epoch (what the fold
  reports with `select_epoch = "best"`) and at its last epoch (from history.csv),
- test log loss (solution.csv) of best.pt and of last.pt: one model (the mean over the
  five fold models of each one's own loss) and the five-fold mean (the submission).
Nothing is trained; the runs come from e.g. bench_digits_tuned.py with
`--select_epoch best`.

    python tests/benchmarks/bench_best_vs_last.py RUN_DIR [RUN_DIR ...]
"""

import argparse
import copy
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
from bench_digits_tuned import log_loss  # its sibling script: the same scoring


class TestSet:
    def __init__(self, config: str):
        from skp.configs import load_config
        from skp.ensemble.predict import build_dataset, build_task, inference_config, inference_loader

        cfg = inference_config(load_config(config), "inference", None, None, None)
        self.task, dataset = build_task(cfg), build_dataset(cfg, "inference")
        self.loader = inference_loader(dataset, cfg, None)
        solution = pd.read_csv(Path(cfg.data_dir) / cfg.solution_file).set_index(cfg.id_column)
        self.labels = solution.loc[dataset.ids, cfg.targets[0]].to_numpy().astype(int)

    def scores(self, checkpoints: list[Path]) -> tuple[float, float]:
        """(one model, five-fold mean) test log loss of these fold checkpoints."""
        from skp.ensemble.predict import load_weights, run_inference

        models = []
        for path in checkpoints:
            model = copy.deepcopy(self.task.model)
            model.load_state_dict(load_weights(path, "validated"))
            models.append(model)
        predictions = run_inference(self.task, models, self.loader)
        one_model = statistics.fmean(log_loss(p, self.labels) for p in predictions)
        return one_model, log_loss(np.mean(predictions, axis=0), self.labels)


def validation(run: Path) -> tuple[float, float]:
    best, last = [], []
    for history in sorted(run.glob("fold*/history.csv")):
        curve = pd.read_csv(history)["val/logloss"].to_numpy()
        best.append(curve.min())
        last.append(curve[-1])
    return statistics.fmean(best), statistics.fmean(last)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--config", default="digits.cfg_baseline", help="data, model and transforms for inference")
    args = parser.parse_args()
    test = TestSet(args.config)
    print("| run | val, best epoch | val, last epoch | test one model, best.pt | last.pt | test fold mean, best.pt | last.pt |")
    print("|---|---|---|---|---|---|---|")
    for run in args.runs:
        folds = sorted(run.glob("fold*/"))
        val_best, val_last = validation(run)
        one_best, mean_best = test.scores([f / "best.pt" for f in folds])
        one_last, mean_last = test.scores([f / "last.pt" for f in folds])
        print(f"| {run} | {val_best:.4f} | {val_last:.4f} | {one_best:.4f} | {one_last:.4f} | {mean_best:.4f} | {mean_last:.4f} |", flush=True)


if __name__ == "__main__":
    main()
