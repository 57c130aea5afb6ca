"""skp-tune's Ray backend against its Optuna backend, side by side, on the same digits study.

Every run is a fresh `skp-tune` process (imports and, for Ray, starting a local Ray
instance included) on digits fold 0: same search space (the number of epochs fixed),
trials, epochs, TPE seed, and no pruning, so both train exactly the same epochs.

- serial: one trial at a time (Optuna: one worker; Ray: --max-concurrent 1, 2 CPUs a trial)
- parallel: two at once (Optuna: --workers 2; Ray: 1 CPU a trial)
- gpu1 / gpu2: one or two trials on GPU 0 (Optuna: --trials-per-gpu 1|2; Ray:
  --gpus-per-trial 1|0.5, --gpu-cpus CPUs a trial); the packing gain is gpu1 time / gpu2 time

    python tests/benchmarks/bench_tune_ray.py [--trials 6] [--epochs 3] [--repeats 1] [--modes serial,parallel]
    python tests/benchmarks/bench_tune_ray.py --modes gpu1,gpu2 --trials 8   # on a GPU machine
    python tests/benchmarks/bench_tune_ray.py --readme --modes serial

--readme runs the README's study instead (`skp-tune digits.cfg_baseline --trials 12
--pruner none`: its own space, training length included, and default seed) on each
backend, so the ratio is the Ray backend's fixed cost on the study users start with.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

MODES = {
    "serial": (["--workers", "1"], ["--max-concurrent", "1", "--cpus-per-trial", "2"]),
    "parallel": (["--workers", "2"], ["--cpus-per-trial", "1"]),
    "gpu1": (["--gpus", "0", "--trials-per-gpu", "1"], ["--gpus-per-trial", "1"]),
    "gpu2": (["--gpus", "0", "--trials-per-gpu", "2"], ["--gpus-per-trial", "0.5"]),
}


def run(argv, env) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "skp.tune.cli", *argv], env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"skp-tune {' '.join(argv)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def epochs_trained(name: str) -> tuple[int, int]:
    """(finished trials, validation epochs over all trials) of a study."""
    import optuna

    from skp.tune.study import make_storage

    study = optuna.load_study(study_name=name, storage=make_storage(None, name))
    finished = [t for t in study.trials if t.state.is_finished() and t.state.name != "FAIL"]
    return len(finished), sum(len(t.intermediate_values) for t in study.trials)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--modes", default="serial,parallel")
    parser.add_argument("--gpu-cpus", default="4", help="--cpus-per-trial of Ray's GPU trials")
    parser.add_argument("--readme", action="store_true", help="the README's study (12 trials, its space) instead of --trials x --epochs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        env = {**os.environ, "SKP_DATA_DIR": f"{root}/data", "SKP_SAVE_DIR": f"{root}/runs",
               "SKP_STUDIES_DIR": f"{root}/studies", "RAY_USAGE_STATS_ENABLED": "0"}
        os.environ.update(env)
        if args.readme:
            args.trials = 12
            common = ["digits.cfg_baseline", "--trials", "12", "--pruner", "none"]
        else:
            common = ["digits.cfg_baseline", "--trials", str(args.trials), "--num_epochs", str(args.epochs), "--seed", "0",
                      "--pruner", "none", "--no-export"]
        results = {}
        for repeat in range(args.repeats):
            for mode in args.modes.split(","):
                optuna_flags, ray_flags = MODES[mode]
                if mode.startswith("gpu"):
                    ray_flags = [*ray_flags, "--cpus-per-trial", args.gpu_cpus]
                for backend, flags in (("optuna", optuna_flags), ("ray", ["--backend", "ray", *ray_flags])):
                    name = f"{mode}-{backend}-{repeat}"
                    seconds = run([*common, "--study", name, *flags], env)
                    finished, epochs = epochs_trained(name)
                    results.setdefault((mode, backend), []).append(seconds)
                    print(f"repeat {repeat} {mode:8s} {backend:6s}: {seconds:6.1f} s, {finished} trials, {epochs} epochs, "
                          f"{seconds / finished:5.1f} s per trial", flush=True)
    shape = "the README's study (12 trials)" if args.readme else f"{args.trials} trials x {args.epochs} epochs"
    print(f"\n{shape}, {args.repeats} repeat(s); median wall seconds:")
    print(f"{'mode':10s} {'optuna':>8s} {'ray':>8s} {'ray/optuna':>11s} {'s/trial optuna':>15s} {'s/trial ray':>12s}")
    for mode in args.modes.split(","):
        base, ours = (statistics.median(results[(mode, b)]) for b in ("optuna", "ray"))
        print(f"{mode:10s} {base:8.1f} {ours:8.1f} {ours / base:11.2f} {base / args.trials:15.1f} {ours / args.trials:12.1f}")
    if ("gpu1", "ray") in results and ("gpu2", "ray") in results:
        for backend in ("optuna", "ray"):
            one, two = (statistics.median(results[(mode, backend)]) for mode in ("gpu1", "gpu2"))
            print(f"two trials per GPU against one, {backend}: {one / two:.2f}x the trials per hour")


if __name__ == "__main__":
    main()
