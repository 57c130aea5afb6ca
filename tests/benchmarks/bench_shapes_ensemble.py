"""Segmentation ensembles on shapes: test Dice of single fold models, fold means, TTA and
the blend; and the peak memory of a blend over maps far larger than what it holds.

1. Trains the members (--configs; shapes.cfg_unet and shapes.cfg_fpn) on five folds with
   each --seeds (skp-train skips what is done) and scores, against the 40 held-out test
   masks (solution.csv), with the threshold and speck size fitted on OOF each time:
   - each member's fold-0 model alone (OOF: fold 0's validation images),
   - each member's five-fold mean, without and with TTA (hflip, vflip, rot90),
   - the greedy blend of the members, without and with TTA;
   per seed, then mean ± std over the seeds.
2. In a child process: two members' test maps of --images synthetic 128x128 images
   (uint8 .npy files), blended, thresholds fitted on the blend against as many true
   masks, and every blended mask binarised, resized and run-length encoded; prints the
   child's peak resident memory against the size of the maps.

    python tests/benchmarks/bench_shapes_ensemble.py [--root DIR] [--seeds 42,43,44] [--configs CFG ...] [--images 20000]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CONFIGS = ("shapes.cfg_unet", "shapes.cfg_fpn")
TTA = ["hflip", "vflip", "rot90"]


def scores(root: Path, configs: list[str], seeds: list[int]) -> None:
    from skp.ensemble import Recipe, Run
    from skp.ensemble.pipeline import run_ensemble
    from skp.training.folds import train_folds

    rows = {}
    for seed in seeds:
        run_id = f"bench-seed{seed}"
        for config in configs:
            train_folds(config, ["--seed", str(seed)], kfold="0,1,2,3,4", run_id=run_id, trainer_kwargs={"enable_progress_bar": False})
        members = [Run(config, run_id=run_id) for config in configs]
        entries = [(f"{m.config}, fold 0 model", [m], [0], []) for m in members]
        entries += [(f"{m.config}, 5-fold mean", [m], None, []) for m in members]
        entries += [(f"{m.config}, 5-fold mean + TTA", [m], None, TTA) for m in members]
        entries += [("greedy blend", members, None, []), ("greedy blend + TTA", members, None, TTA)]
        for n, (label, chosen, folds, tta) in enumerate(entries):
            name = f"s{seed}-e{n}"
            recipe = Recipe(members=chosen, folds=folds, tta=tta, blend="greedy", output=str(root / "ensembles" / name), name=name)
            summary = run_ensemble(recipe)
            values = (summary["oof_dice_at_0.5"], summary["oof_dice"], summary["thresholds"][0], summary["min_sizes"][0], summary["test_dice"])
            rows.setdefault(label, []).append(values)
            print(f"seed {seed} | {label} | " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in values), flush=True)
        print(f"seed {seed}: greedy weights " + ", ".join(f"{m['member']} {m['weight']:.2f}" for m in summary["members"]))
    print(f"\nmean ± std over seeds {seeds}")
    print("| entry | OOF Dice at 0.5 | OOF Dice, fitted | test Dice |")
    print("|---|---|---|---|")
    for label, values in rows.items():
        columns = list(zip(*values))
        cells = [columns[0], columns[1], columns[4]]
        print(f"| {label} | " + " | ".join(_mean_std(c) for c in cells) + " |")


def _mean_std(values) -> str:
    if len(values) < 2:
        return f"{values[0]:.4f}"
    return f"{statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f}"


def memory_child(folder: str, images: int) -> None:
    """Runs in its own process, so its peak memory is the blend's alone."""
    from skp.ensemble.mask_blend import MapFile, blend, fit_thresholds
    from skp.toolbox.masks import rle_encode
    from skp.ensemble.segmentation import final_masks

    imported = _memory_mib("VmRSS")
    folder = Path(folder)
    members = [MapFile(folder / f"member{i}.npy") for i in range(2)]
    truth = MapFile(folder / "truth.npy")
    started = time.time()
    out = blend(members, [1, 1], MapFile(folder / "blend.npy", shape=members[0].shape))
    fitted = fit_thresholds(out, truth, thresholds=(0.3, 0.5, 0.7), min_sizes=(0, 16))
    encoded = sum(len(rle_encode(final_masks(out, n, fitted, (256, 256))[0])) for n in range(images))
    print(f"blend + thresholds + {images} RLE masks at 256x256: {time.time() - started:.0f} s; resident memory "
          f"{imported:.0f} MiB after imports, peak {_memory_mib('VmHWM'):.0f} MiB; {encoded / 1e6:.1f} M characters of RLE")


def _memory_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory(images: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        rng = np.random.default_rng(0)
        shape = (images, 1, 128, 128)
        for i in range(2):
            maps = np.lib.format.open_memmap(f"{folder}/member{i}.npy", mode="w+", dtype=np.uint8, shape=shape)
            for start in range(0, images, 1000):
                block = np.zeros((min(1000, images - start), 1, 128, 128), np.uint8)
                block[:, :, 32:96, 32:96] = rng.integers(100, 255, (len(block), 1, 64, 64), dtype=np.uint8)
                maps[start:start + len(block)] = block
            maps.flush()
            del maps
        truth = np.lib.format.open_memmap(f"{folder}/truth.npy", mode="w+", dtype=bool, shape=shape)
        for start in range(0, images, 1000):
            truth[start:start + 1000, :, 32:96, 32:96] = True
        truth.flush()
        del truth
        size = 2 * images * 128 * 128 / 2**20
        print(f"\n{images} synthetic test images: two members' maps {size:.0f} MiB, the blend and the truth {size / 2:.0f} MiB each, on disk")
        subprocess.run([sys.executable, __file__, "--child", folder, "--images", str(images)], check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="keeps data, runs and ensembles (default: a temporary folder)")
    parser.add_argument("--images", type=int, default=20000, help="synthetic test images for the memory figure")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), help="the members")
    parser.add_argument("--seeds", default="42", help="training seeds, comma-separated")
    parser.add_argument("--skip-scores", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        memory_child(args.child, args.images)
        return
    if not args.skip_scores:
        root = Path(args.root or tempfile.mkdtemp(prefix="skp-shapes-"))
        for name, sub in (("SKP_DATA_DIR", "data"), ("SKP_SAVE_DIR", "runs"), ("SKP_ENSEMBLES_DIR", "ensembles")):
            os.environ[name] = str(root / sub)
        scores(root, args.configs, [int(x) for x in args.seeds.split(",")])
    memory(args.images)


if __name__ == "__main__":
    main()
