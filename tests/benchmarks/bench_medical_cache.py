"""Decoding against caching for the medical datasets, beside the model's own step.

For each input, side by side in one process: seconds per epoch of serving every item
(windowing and 2.5D stacking included, no augmentation) with cfg.cache_images "off"
(the baseline: decode every item), "memory" (second epoch) and "disk" (a fresh dataset
reading the .npy files another process wrote), and the seconds of a forward and
backward pass of the config's model over the same items, so the ratio says whether
reading or training dominates an epoch.

Inputs, all real files:
  ct512     a 512 x 512 CT in JPEG 2000 (pydicom's 693_J2KI.dcm), listed 64 times:
            what a compressed competition series costs
  dicom     the medical project's 26 small DICOMs (medical.cfg_dicom)
  slices    the medical project's 2.5D slices (medical.cfg_slices): one volume per
            about 25 rows, decoded once per row without a cache
  volumes   the medical project's 3D volumes (medical.cfg_volume)

    python tests/benchmarks/bench_medical_cache.py [--epochs 3]
"""

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import pydicom
import torch

from skp import resolve
from skp.configs import load_config
from skp.datasets import stacks

CT512 = Path(pydicom.__file__).parent / "data" / "test_files" / "693_J2KI.dcm"


def config(name: str, mode: str, cache_dir: str, extra=()):
    cfg = load_config(name, ["--cache_images", mode, "--cache_dir", cache_dir, *extra])
    if cfg.prepare_data is not None:
        cfg.prepare_data(cfg)
    cfg.train_transforms = cfg.val_transforms  # reading, not augmenting, is measured
    return cfg


def ct512_overrides(folder: Path) -> list:
    rows = pd.DataFrame({"id": range(64), "filename": [str(CT512)] * 64, "label": [i % 3 for i in range(64)], "fold": [i % 4 for i in range(64)]})
    rows.to_csv(folder / "ct512.csv", index=False)
    return ["--data_dir", str(folder), "--prepare_data", "None", "--annotations_file", "ct512.csv",
            "--windows", "[(40, 400), (80, 200), (600, 2800)]", "--num_input_channels", "3", "--image_height", "256", "--image_width", "256"]


def epoch_seconds(dataset) -> float:
    started = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    return time.perf_counter() - started


def model_seconds(cfg, dataset) -> float:
    """Forward and backward over the dataset's items in batches of cfg.batch_size."""
    net = resolve("models", cfg.model)(cfg).train()
    items = [dataset[i] for i in range(len(dataset))]
    started = time.perf_counter()
    for start in range(0, len(items), cfg.batch_size):
        batch = items[start : start + cfg.batch_size]
        x = torch.stack([item["x"] for item in batch])
        net({"x": x})["logits"].sum().backward()
    return time.perf_counter() - started


def measure(name: str, dataset_name: str, extra, epochs: int) -> dict:
    with tempfile.TemporaryDirectory() as cache_dir:
        figures = {}
        stacks._in_memory.clear()
        off = resolve("datasets", dataset_name)(config(name, "off", cache_dir, extra), "train")
        figures["off"] = min(epoch_seconds(off) for _ in range(epochs))
        memory = resolve("datasets", dataset_name)(config(name, "memory", cache_dir, extra), "train")
        figures["memory first"] = epoch_seconds(memory)
        figures["memory"] = min(epoch_seconds(memory) for _ in range(epochs))
        disk_cfg = config(name, "disk", cache_dir, extra)
        figures["disk first"] = epoch_seconds(resolve("datasets", dataset_name)(disk_cfg, "train"))
        figures["disk"] = min(epoch_seconds(resolve("datasets", dataset_name)(disk_cfg, "train")) for _ in range(epochs))
        figures["model"] = model_seconds(disk_cfg, memory)
        figures["items"] = len(off)
        return figures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        cases = {
            "ct512": ("medical.cfg_dicom", "dicom2d", ct512_overrides(Path(folder))),
            "dicom": ("medical.cfg_dicom", "dicom2d", []),
            "slices": ("medical.cfg_slices", "nifti", []),
            "volumes": ("medical.cfg_volume", "nifti3d", []),
        }
        rows = {case: measure(*spec, args.epochs) for case, spec in cases.items()}
    print(f"{'seconds per epoch':18}{'items':>6}{'off':>9}{'memory':>9}{'disk':>9}{'1st disk':>9}{'model':>9}{'off/memory':>11}{'off/disk':>9}{'off/model':>10}")
    for case, f in rows.items():
        print(f"{case:18}{f['items']:6d}{f['off']:9.3f}{f['memory']:9.3f}{f['disk']:9.3f}{f['disk first']:9.3f}{f['model']:9.3f}"
              f"{f['off'] / f['memory']:11.1f}{f['off'] / f['disk']:9.1f}{f['off'] / f['model']:10.2f}")


if __name__ == "__main__":
    main()
