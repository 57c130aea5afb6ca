"""skp-ensemble on digits: blends against their best member, inference throughput against a
bare PyTorch loop, and the time of a re-blend from cached predictions.

Trains (or reuses, since skp-train skips finished folds) five folds of three configs:
digits.cfg_baseline (ResNet10-T), digits.cfg_regnet (RegNetX-200MF, GeM, 48 px) and
digits.cfg_convnext (ConvNeXt-Atto, 48 px); then blends them with every method. With
--seeds, also digits.cfg_baseline trained with those seeds, blended with the seed-42 run.

    python tests/benchmarks/bench_ensemble.py [--root DIR] [--repeats 3] [--seeds 1,2]

--root keeps data, runs and the prediction cache (default: a temporary folder).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

CONFIGS = ("digits.cfg_baseline", "digits.cfg_regnet", "digits.cfg_convnext")
FOLDS = (0, 1, 2, 3, 4)


def train(env, name: str, overrides=()) -> None:
    command = ["skp-train", name, "--kfold", ",".join(map(str, FOLDS)), "--enable_progress_bar", "False", *overrides]
    started = time.time()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"{' '.join(command[:2] + list(overrides))}: {time.time() - started:.0f} s (a few when already trained)")


def config_members():
    from skp.ensemble import Run

    return [Run(name) for name in CONFIGS]


def seed_members(seeds):
    from skp.configs import load_config
    from skp.ensemble import Run
    from skp.training.runs import default_run_id, run_fingerprint

    cfg = load_config("digits.cfg_baseline")
    runs = [Run("digits.cfg_baseline", name="seed 42")]
    for seed in seeds:
        run_id = default_run_id(run_fingerprint(cfg, [("seed", str(seed))]))
        runs.append(Run("digits.cfg_baseline", run_id=run_id, name=f"seed {seed}"))
    return runs


def recipe(members, method: str, metric=None, direction=None):
    from skp.ensemble import Recipe

    return Recipe(members=members, blend=method, metric=metric, direction=direction, name=f"bench_{method}")


def blend_table(members, title: str) -> None:
    from skp.ensemble.pipeline import run_ensemble

    for metric, direction in ((None, None), ("logloss", "min")):
        print(f"\n{title}, fitted and scored on {metric or 'the val_metric (accuracy)'}:")
        print(f"{'method':<10} {'OOF (cv)':>9} {'OOF fit':>8} {'test':>7} {'best member OOF':>16} {'its test':>9} {'gain cv':>8} {'seconds':>8}")
        for method in ("mean", "greedy", "simplex", "rank", "geometric", "power", "stacker"):
            started = time.time()
            summary = run_ensemble(recipe(members, method, metric, direction))
            seconds = time.time() - started
            best = next(m for m in summary["members"] if m["name"] == summary["best_member"])
            blend = summary["blend"]
            print(
                f"{method:<10} {blend['oof_cross_validated']:9.4f} {blend['oof']:8.4f} {blend['test']:7.4f} "
                f"{best['oof']:16.4f} {best['test']:9.4f} {blend['gain_over_best_member']:+8.4f} {seconds:8.2f}"
                f"  (cache {summary['cache']['hits']} hits, {summary['cache']['misses']} computed)"
            )
    print("members (log loss):")
    for m in summary["members"]:
        print(f"  {m['name']:<36} OOF {m['oof']:.4f}  test {m['test']:.4f}")


def bare_loop(checkpoints: dict, cfg_by_member: dict) -> tuple[float, int]:
    """What a user writes by hand: read and resize every test image with OpenCV, stack them,
    run each fold checkpoint over batches under inference_mode, softmax, average."""
    from skp.ensemble.predict import load_weights
    from skp.registry import resolve

    started, images = time.time(), 0
    for member, paths in checkpoints.items():
        cfg = cfg_by_member[member].copy()
        cfg.pretrained = False
        test = pd.read_csv(Path(cfg.data_dir) / cfg.inference_annotations_file)
        size = (cfg.image_width, cfg.image_height)
        pixels = [cv2.resize(cv2.imread(str(Path(cfg.data_dir) / f), cv2.IMREAD_GRAYSCALE), size) for f in test[cfg.inputs]]
        x = torch.from_numpy(np.stack(pixels)[:, None]).float()
        for path in paths:
            model = resolve("models", cfg.model)(cfg)
            model.load_state_dict(load_weights(path, "validated"))
            model.eval()
            with torch.inference_mode():
                probs = [model({"x": batch})["logits"].softmax(1) for batch in x.split(cfg.batch_size)]
            torch.cat(probs)
            images += len(x)
    return time.time() - started, images


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", help="folder for data, runs and cache (default: temporary)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions of the inference comparison")
    parser.add_argument("--seeds", default="", help="extra seeds of digits.cfg_baseline to blend, e.g. 1,2")
    args = parser.parse_args()
    root = Path(args.root or tempfile.mkdtemp())
    env = {**os.environ, "SKP_DATA_DIR": str(root / "data"), "SKP_SAVE_DIR": str(root / "runs"), "SKP_ENSEMBLES_DIR": str(root / "ensembles")}
    os.environ.update(env)
    torch.set_num_threads(os.cpu_count())
    seeds = [int(s) for s in args.seeds.split(",") if s]
    for name in CONFIGS:
        train(env, name)
    for seed in seeds:
        train(env, "digits.cfg_baseline", ["--seed", str(seed)])

    from skp.ensemble.members import resolve_members
    from skp.ensemble.pipeline import run_ensemble

    # inference: skp-ensemble's whole prediction phase (cache off) against the bare loop
    members = resolve_members(recipe(config_members(), "mean"))
    checkpoints = {m.name: [m.fold_dirs[f] / "best.pt" for f in FOLDS] for m in members}
    configs = {m.name: m.cfg for m in members}
    ours, bare = [], []
    for _ in range(args.repeats):
        summary = run_ensemble(recipe(config_members(), "mean"), use_cache=False)
        ours.append(summary["seconds"]["predict"])
        seconds, images = bare_loop(checkpoints, configs)
        bare.append(seconds)
    ours_rate, bare_rate = images / min(ours), images / min(bare)
    print(f"\ninference, {images} images ({len(members)} members x {len(FOLDS)} folds x test set), best of {args.repeats}:")
    print(f"  skp-ensemble {ours_rate:8.0f} images/s ({min(ours):.2f} s, incl. checks and hashing)")
    print(f"  bare loop    {bare_rate:8.0f} images/s ({min(bare):.2f} s)")
    print(f"  ratio        {ours_rate / bare_rate:8.2f}")

    # blends: the first fills the cache, every later one re-blends from it
    shutil.rmtree(root / "ensembles" / ".cache", ignore_errors=True)
    blend_table(config_members(), "three configs")
    if seeds:
        blend_table(seed_members(seeds), f"digits.cfg_baseline, seeds 42 and {args.seeds}")

if __name__ == "__main__":
    sys.exit(main())
