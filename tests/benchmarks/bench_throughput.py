"""Training images/s of skp-train against a bare PyTorch loop, same model and data.

Both sides train `--config` (default digits.cfg_baseline, `--set KEY=VALUE` overrides)
on fold 0 for `--epochs` epochs with a validation pass each epoch, in float32 and, on a
GPU, also with skp's GPU defaults (bf16 mixed precision, channels-last layout): skp through `fit_fold` (Lightning, metrics,
OOF file, best/last/resume checkpoints, CSV history), the bare loop with the same
Dataset, loaders, model, loss, optimizer and LR schedule, validating and saving the
weights each epoch.
Throughput counts the epochs after the first (warm-up), start of epoch to start of the
next, so it includes each side's validation and saving. The sides alternate, `--repeats`
times each, in this one process; the start-up cost of a trial (interpreter and imports,
measured in fresh processes; datasets; model) is broken out.

    python tests/benchmarks/bench_throughput.py --epochs 4 --repeats 3
"""

from __future__ import annotations

import argparse
import ast
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl
import torch

from skp.configs import load_config
from skp.optim import build_optimizer, build_scheduler
from skp.registry import resolve
from skp.tasks.data import build_datasets, build_loader
from skp.training.folds import fit_fold


MODES = {
    # name: (Lightning precision, channels_last)
    "fp32": ("32-true", False),
    "bf16+NHWC": ("bf16-mixed", True),  # skp's GPU defaults
}


def now() -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()  # time finished work, not queued kernels
    return time.perf_counter()


class EpochClock(pl.Callback):
    def __init__(self):
        self.starts = []

    def on_train_epoch_start(self, trainer, pl_module):
        self.starts.append(now())

    def on_train_end(self, trainer, pl_module):
        self.starts.append(now())


def images_per_second(starts: list[float], images: int) -> float:
    """Epochs after the first: start of epoch 2 to the end."""
    return images * (len(starts) - 2) / (starts[-1] - starts[1])


def skp_side(cfg, folder: Path, images: int, mode: str) -> float:
    precision, channels_last = MODES[mode]
    cfg = cfg.copy()
    cfg.channels_last = channels_last
    clock = EpochClock()
    fit_fold(cfg, folder, {"enable_progress_bar": False, "num_sanity_val_steps": 0, "precision": precision}, callbacks=[clock])
    return images_per_second(clock.starts, images)


def bare_side(cfg, folder: Path, images: int, mode: str) -> float:
    """What a user writes by hand: the same components, a plain loop."""
    precision, channels_last = MODES[mode]
    cfg = cfg.copy()
    torch.manual_seed(cfg.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    layout = torch.channels_last if channels_last else torch.contiguous_format
    train_set, val_set = build_datasets(cfg)
    train_loader, val_loader = build_loader(cfg, train_set, True), build_loader(cfg, val_set, False)
    model = resolve("models", cfg.model)(cfg).to(device, memory_format=layout)
    loss_fn = resolve("losses", cfg.loss)(cfg)
    optimizer = build_optimizer(cfg, model)
    schedule = build_scheduler(cfg, optimizer, len(train_loader) * cfg.num_epochs, cfg.num_epochs)["scheduler"]
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16-mixed")

    def to_device(batch):
        batch = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
        batch["x"] = batch["x"].contiguous(memory_format=layout)
        return batch

    starts = []
    for epoch in range(cfg.num_epochs):
        starts.append(now())
        model.train()
        for batch in train_loader:
            batch = to_device(batch)
            with autocast:
                loss = loss_fn(model(batch), batch)["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        model.eval()
        with torch.inference_mode(), autocast:
            for batch in val_loader:
                model(to_device(batch))
        torch.save(model.state_dict(), folder / "last.pt")
    starts.append(now())
    return images_per_second(starts, images)


def import_seconds(statement: str, repeats: int = 3) -> float:
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def startup(cfg) -> dict:
    """Seconds of each part of a trial's start-up."""
    parts = {
        "python + import torch": import_seconds("import torch"),
        "python + import skp.training.folds (torch, Lightning, timm, albumentations)": import_seconds("import skp.training.folds"),
    }
    started = time.perf_counter()
    build_datasets(cfg.copy())
    parts["datasets (annotations, image cache)"] = time.perf_counter() - started
    started = time.perf_counter()
    resolve("tasks", cfg.task)(cfg.copy())
    parts["model, loss, metrics (the task)"] = time.perf_counter() - started
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="digits.cfg_baseline")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config attribute, e.g. image_height=128 or sampler_params={'num_samples':8192}")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up timings")
    args = parser.parse_args()
    cfg = load_config(args.config, [("num_epochs", str(args.epochs))])
    for item in args.set:
        key, _, text = item.partition("=")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        setattr(cfg, key, value)
    if cfg.prepare_data is not None:
        cfg.prepare_data(cfg)
    images = len(build_loader(cfg, build_datasets(cfg)[0], True)) * cfg.batch_size  # full batches (drop_last)
    gpu = torch.cuda.is_available()
    device = "GPU " + torch.cuda.get_device_name() if gpu else f"CPU ({torch.get_num_threads()} threads)"
    modes = list(MODES) if gpu else ["fp32"]  # bf16 and NHWC are GPU defaults only
    print(f"{args.config} {' '.join(args.set)}, fold 0, {images} training images per epoch, batch {cfg.batch_size}, "
          f"{cfg.num_workers} loader workers, {device}")
    results = {(side, mode): [] for mode in modes for side in ("bare PyTorch loop (baseline)", "skp-train (fit_fold)")}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for mode in modes:
                results[("bare PyTorch loop (baseline)", mode)].append(bare_side(cfg, Path(tmp), images, mode))
                results[("skp-train (fit_fold)", mode)].append(skp_side(cfg, Path(tmp) / f"skp-{mode}-{repeat}", images, mode))
    print("\n| loop | precision, layout | images/s, median | runs | ratio to the bare loop, same mode |")
    print("|---|---|---|---|---|")
    for (side, mode), values in results.items():
        bare = statistics.median(results[("bare PyTorch loop (baseline)", mode)])
        median = statistics.median(values)
        print(f"| {side} | {mode} | {median:.0f} | {', '.join(f'{v:.0f}' for v in values)} | {median / bare:.3f} |")
    if args.no_startup:
        return
    print("\n| trial start-up part | seconds |")
    print("|---|---|")
    for name, seconds in startup(cfg).items():
        print(f"| {name} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
