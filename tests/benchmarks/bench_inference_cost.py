"""How steady is a member's measured inference cost when other work shares the machine?

skp-ensemble records each test prediction's seconds per image as it computes it
(skp.ensemble.costs). This times one model's pass over the test images several times in
three conditions: an idle machine; bursts of other work (processes on every core, busy
BURST_ON seconds, idle BURST_OFF); steady other work (processes on every core, always
busy). Two estimators read the same passes: the mean over the timed batches (skp before
2026-11-30) and the median batch (skp now). Each is printed as its median over the passes
with [min, max], and as a ratio to the idle figure: near 1, a cost recorded during that
condition still fits a budget set on an idle machine.

    SKP_DATA_DIR=... python tests/benchmarks/bench_inference_cost.py [--config fashion.cfg_baseline] [--passes 5]

Run it on an otherwise idle machine: the idle condition is the baseline.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time

import torch

from skp.configs import load_config
from skp.ensemble.predict import build_dataset, build_task, inference_config, inference_loader, run_inference

BURST_ON, BURST_OFF = 0.3, 0.7


def burn(duty: bool, stop) -> None:
    """Busy on one core until `stop` (duty: in bursts of BURST_ON seconds every BURST_ON + BURST_OFF)."""
    while not stop.is_set():
        until = time.perf_counter() + (BURST_ON if duty else 0.5)
        while time.perf_counter() < until:
            pass
        if duty:
            time.sleep(BURST_OFF)


def timed_pass(task, loader) -> tuple[float, float]:
    """(mean of the timed batches, median batch) in seconds per image, from one pass."""
    stamps, timing = [time.perf_counter()], {}
    run_inference(task, [task.model], loader, lambda: stamps.append(time.perf_counter()), timing)
    images = len(loader.dataset) - loader.batch_size  # the first batch is left out, as skp does
    mean = (stamps[-1] - stamps[1]) / images
    return mean, timing["load"] + timing["models"][0]


def measure(task, loader, passes: int, condition: str) -> list[tuple[float, float]]:
    stop, workers = multiprocessing.Event(), []
    if condition != "idle":
        workers = [multiprocessing.Process(target=burn, args=(condition == "bursts", stop), daemon=True) for _ in range(os.cpu_count())]
        for worker in workers:
            worker.start()
    try:
        return [timed_pass(task, loader) for _ in range(passes)]
    finally:
        stop.set()
        for worker in workers:
            worker.join()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="fashion.cfg_baseline")
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()
    cfg = load_config(args.config)
    if cfg.prepare_data is not None:
        cfg.prepare_data(cfg)
    cfg = inference_config(cfg, "inference", None, None, None)
    task = build_task(cfg)
    loader = inference_loader(build_dataset(cfg, "inference"), cfg, None)
    print(f"{args.config}: {len(loader.dataset)} test images in batches of {loader.batch_size}, "
          f"{torch.get_num_threads()} torch threads, {os.cpu_count()} cores, {args.passes} passes per condition")
    timed_pass(task, loader)  # warm-up
    figures = {condition: measure(task, loader, args.passes, condition) for condition in ("idle", "bursts", "steady")}
    idle = [statistics.median(p[i] for p in figures["idle"]) for i in (0, 1)]
    print("\n| condition | mean of batches, s/1000 images | ratio to idle | median batch, s/1000 images | ratio to idle |")
    print("|---|---|---|---|---|")
    for condition, passes in figures.items():
        cells = []
        for i in (0, 1):
            values = [1000 * p[i] for p in passes]
            middle = statistics.median(values)
            cells += [f"{middle:.2f} [{min(values):.2f}, {max(values):.2f}]", f"{middle / (1000 * idle[i]):.2f}"]
        print(f"| {condition} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
