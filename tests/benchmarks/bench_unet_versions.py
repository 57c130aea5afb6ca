"""shapes.cfg_unet on five folds per seed: CV Dice, training seconds and test Dice.

Written to compare two versions of `segmentation.unet` (the hand-written decoder of
commit 201f902 and segmentation_models_pytorch's Unet since): run it in a checkout of
each, side by side, and compare the lines. Per seed it trains the five folds, then blends
them with a one-member mean recipe, which fits the threshold on the OOF maps and scores
the 40 test masks of solution.csv.

    SKP_SAVE_DIR=DIR/runs SKP_DATA_DIR=DIR/data SKP_ENSEMBLES_DIR=DIR/ensembles \\
        python tests/benchmarks/bench_unet_versions.py --seeds 42,43,44 --output DIR/ens
"""

import argparse
import statistics
import time
from pathlib import Path


def main() -> None:
    from skp.ensemble import Recipe, Run
    from skp.ensemble.pipeline import run_ensemble
    from skp.training.folds import train_folds

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="42,43,44")
    parser.add_argument("--config", default="shapes.cfg_unet")
    parser.add_argument("--output", type=Path, required=True, help="folder for the one-member ensembles")
    args = parser.parse_args()
    for seed in args.seeds.split(","):
        run_id = f"bench-seed{seed}"
        started = time.time()
        results = train_folds(args.config, ["--seed", seed], kfold="0,1,2,3,4", run_id=run_id, trainer_kwargs={"enable_progress_bar": False})
        seconds = time.time() - started
        recipe = Recipe(members=[Run(args.config, run_id=run_id)], blend="mean", output=str(args.output / f"seed{seed}"), name=f"seed{seed}")
        summary = run_ensemble(recipe)
        cv = statistics.fmean(r["best_value"] for r in results)
        print(f"seed {seed}: CV Dice {cv:.4f}, train {seconds:.0f} s, OOF Dice fitted {summary['oof_dice']:.4f}, "
              f"test Dice {summary['test_dice']:.4f}", flush=True)


if __name__ == "__main__":
    main()
