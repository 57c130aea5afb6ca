"""Does a rung's value rank trials as their final values do? Complete short schedules
against the same epoch inside the full schedule, and against rungs continued from the
previous rung's end (`--pruner rungs-continued`).

For --configs parameter sets drawn at random (seeded) from a project's search space,
on fold 0: the full schedule (the set's own num_epochs), whose history gives the value
after epoch r of it (what the median pruner, ASHA and Hyperband judge), and a complete
schedule of r epochs for every rung r of `--pruner rungs` (warm-up and decay compressed
into r epochs, from scratch; what the rungs pruner judges). The table gives, per rung
length r, the Spearman rank correlation over the sets between each kind of value and
the final value: near 1, the fidelity keeps the ranking; near 0 or below, it misleads.
A third kind, the continued rung, trains each set's rungs as one chain: the first rung
complete, then each longer schedule resumed at the epoch the last one ended (every rung
below the set's length: `--pruner rungs-continued` keeps the last one, which costs it
only its new epochs, while from scratch `--pruner rungs` leaves it out). The chain's
last value against the from-scratch final says whether a continued survivor ends as well.

    python tests/benchmarks/bench_rung_fidelity.py [--config digits.cfg_baseline] [--configs 16]
        [--first 3] [--reduction 3] [--root DIR] [--report]

The report also gives each searched parameter's own Spearman with the final value: a
fidelity tells nothing new where one parameter alone ranks the sets (on Fashion-MNIST's
space, label smoothing raises the log loss by about its own amount). `--only
"NAME<VALUE"` (or >) reports on the sets within a range, such as the low label smoothing
a search settles on. The report ends with bench_rung_replay.py's table: successive
halving replayed over groups of the trained sets, for each fidelity.

Each trained schedule is kept in --root/results.json; re-running adds only what is missing.
`--shard K/N` trains only the sets whose index is K modulo N, so N processes (one thread
each) share the work and the results file.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from scipy.stats import spearmanr

from skp.configs import load_config
from skp.configs.overrides import apply_overrides
from skp.metrics import monitored
from skp.callbacks.run_artifacts import RESUME_FILE
from skp.training.folds import fit_fold
from skp.tune.pruners import rung_lengths
from skp.tune.space import suggest, validate_space

sys.path.insert(0, str(Path(__file__).parent))
from bench_rung_replay import print_replay, replay  # noqa: E402


def draw(config: str, count: int, seed: int) -> list[dict]:
    """`count` parameter sets, drawn from the config's space by Optuna's random sampler."""
    cfg = load_config(config)
    space = validate_space(cfg)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    sets = []
    for _ in range(count):
        trial = study.ask()
        sets.append(suggest(trial, load_config(config), space))
        study.tell(trial, 0.0)
    return sets


def train(config: str, params: dict, epochs: int, folder: Path, resume: bool = False, keep_state: bool = False) -> dict:
    """A complete schedule of `epochs` epochs on fold 0 (`resume`: continued from the
    state a shorter one kept in `folder`): its per-epoch values and seconds."""
    cfg = load_config(config)
    apply_overrides(cfg, list(params.items()))
    cfg.num_epochs, cfg.fold = epochs, 0
    summary = fit_fold(cfg, folder, {"enable_progress_bar": False}, tuning=True, resume=resume, keep_state=keep_state)
    history = pd.read_csv(folder / "history.csv")
    return {"values": history[monitored(cfg)].tolist(), "selected": summary["best_value"], "seconds": summary["seconds"]}


def train_chain(config: str, params: dict, lengths: list[int], index: int, root: Path, results: dict, save) -> None:
    """The set's continued rungs, keys '<index>|c<length>'. A chain whose kept state was lost
    (killed between a rung's end and its save) starts again."""
    folder = root / "runs" / f"{index}-continued"
    done = [length for length in lengths if f"{index}|c{length}" in results]
    if done and len(done) < len(lengths) and not (folder / RESUME_FILE).exists():
        for length in done:
            del results[f"{index}|c{length}"]
        done = []
    for rung, length in enumerate(lengths):
        key = f"{index}|c{length}"
        if key not in results:
            results[key] = {"params": params, "full": lengths[-1], **train(config, params, length, folder, resume=rung > 0,
                                                                             keep_state=length != lengths[-1])}
            save()
            print(f"set {index}: continued to {length} epochs", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="digits.cfg_baseline")
    parser.add_argument("--configs", type=int, default=16)
    parser.add_argument("--first", type=int, default=3)
    parser.add_argument("--reduction", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", default="bench-rung-fidelity")
    parser.add_argument("--shard", default="0/1", help="K/N: train only the sets whose index is K modulo N")
    parser.add_argument("--report", action="store_true", help="print the table from what is trained, train nothing")
    parser.add_argument("--only", metavar="PARAM<VALUE", help="report only the sets whose parameter is below (or with >, above) a value")
    args = parser.parse_args()
    shard, shards = (int(part) for part in args.shard.split("/"))
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    results_file = root / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    if args.report:
        report(only(results, args.only), args)
        return
    cfg = load_config(args.config)
    if cfg.prepare_data is not None:
        cfg.prepare_data(cfg)
    def save():
        """Write this shard's schedules, keeping those other shards wrote meanwhile."""
        if results_file.exists():
            for key, value in json.loads(results_file.read_text()).items():
                if int(key.split("|")[0]) % shards != shard:
                    results[key] = value
        partial = results_file.with_suffix(f".{shard}.partial")
        partial.write_text(json.dumps(results, indent=1))
        partial.replace(results_file)

    for index, params in enumerate(draw(args.config, args.configs, args.seed)):
        if index % shards != shard:
            continue
        full = int(params.get("num_epochs", cfg.num_epochs))
        lengths = rung_lengths(args.first, args.reduction, full)  # as --pruner rungs trains them
        for length in lengths:
            key = f"{index}|{length}"
            if key not in results:
                results[key] = {"params": params, "full": full, **train(args.config, params, length, root / "runs" / key.replace("|", "-"))}
                save()
                print(f"set {index} ({full} epochs): {length}-epoch schedule done", flush=True)
        chain = rung_lengths(args.first, args.reduction, full, continued=True)  # as --pruner rungs-continued
        if len(chain) > 1:
            train_chain(args.config, params, chain, index, root, results, save)
    report(results, args)


BOOTSTRAP = 2000


def _with_interval(values: np.ndarray, final: np.ndarray) -> str:
    """'+0.60 [+0.21, +0.85]': the correlation and its bootstrap interval over the sets."""
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, len(final), len(final))
        if len(set(pick)) > 2:
            draws.append(spearmanr(values[pick], final[pick]).statistic)
    low, high = np.nanpercentile(draws, [5, 95])
    return f"{spearmanr(values, final).statistic:+.2f} [{low:+.2f}, {high:+.2f}]"


def only(results: dict, condition: str | None) -> dict:
    """The schedules of the sets whose parameter meets `condition` ("name<value", "name>value")."""
    if not condition:
        return results
    below = "<" in condition
    name, _, value = condition.partition("<" if below else ">")
    if not value:
        raise SystemExit(f"--only takes NAME<VALUE or NAME>VALUE, got {condition!r}")
    value = float(value)
    return {k: v for k, v in results.items() if (v["params"][name] < value if below else v["params"][name] > value)}


def parameters_alone(results: dict, finals: dict) -> str:
    """Spearman of each numeric searched parameter with the final value: what a fidelity
    must beat to tell anything that the parameters do not already say."""
    params = {int(k.split("|")[0]): v["params"] for k, v in results.items()}
    sets = sorted(finals)
    final = [finals[i] for i in sets]
    alone = []
    for name, value in params[sets[0]].items():
        values = [params[i][name] for i in sets]
        if isinstance(value, (int, float)) and not isinstance(value, bool) and len(set(values)) > 1:
            alone.append((name, spearmanr(values, final).statistic))
    return ", ".join(f"{name} {rho:+.2f}" for name, rho in sorted(alone, key=lambda item: -abs(item[1])))


def report(results: dict, args) -> None:
    maximize = load_config(args.config).val_track == "max"
    scratch = {k: v for k, v in results.items() if not k.split("|")[1].startswith("c")}
    full_of = {int(k.split("|")[0]): v["full"] for k, v in scratch.items()}
    finals = {i: results[f"{i}|{full}"]["selected"] for i, full in full_of.items() if f"{i}|{full}" in results}
    lengths = sorted({int(k.split("|")[1]) for k, v in scratch.items() if int(k.split("|")[1]) != v["full"]})
    print(f"\n{len(finals)} parameter sets of {args.config}; Spearman correlation with the final value (fold 0), "
          f"[5%, 95%] over {BOOTSTRAP} bootstrap resamples of the sets")
    print("| rung length r | complete r-epoch schedule | epoch r of the full schedule | continued to r | sets |")
    print("|---|---|---|---|---|")
    for r in lengths:
        both = [i for i in finals if f"{i}|{r}" in results]
        if len(both) < 3:
            continue
        rung = np.array([results[f"{i}|{r}"]["selected"] for i in both])
        inside = np.array([results[f"{i}|{full_of[i]}"]["values"][r - 1] for i in both])
        final = np.array([finals[i] for i in both])
        chained = [i for i in both if f"{i}|c{r}" in results]
        continued = (_with_interval(np.array([results[f"{i}|c{r}"]["selected"] for i in chained]), np.array([finals[i] for i in chained]))
                     if len(chained) >= 3 else "")
        print(f"| {r} | {_with_interval(rung, final)} | {_with_interval(inside, final)} | {continued} | {len(both)} |")
    if len(finals) >= 3:
        print(f"each parameter alone, Spearman with the final value: {parameters_alone(results, finals)}")
    ends = [i for i in finals if f"{i}|c{full_of[i]}" in results]
    if len(ends) >= 3:
        end = np.array([results[f"{i}|c{full_of[i]}"]["selected"] for i in ends])
        final = np.array([finals[i] for i in ends])
        difference = end - final
        best = np.argmax if maximize else np.argmin
        print(f"continued survivors against the same sets from scratch, at full length ({len(ends)} sets): Spearman "
              f"{_with_interval(end, final)}; value difference {difference.mean():+.4f} ± {difference.std(ddof=1):.4f} "
              f"(lower in {int((difference < 0).sum())} of {len(ends)}); the best set from scratch is "
              f"{ends[int(best(final))]}, continued {ends[int(best(end))]}")
    seconds = statistics.fmean(v["seconds"] for v in results.values())
    print(f"mean seconds per schedule: {seconds:.0f}")
    print_replay(replay(results, first=args.first, reduction=args.reduction, maximize=maximize), args.reduction)


if __name__ == "__main__":
    main()
