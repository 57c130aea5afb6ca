"""Pruner settings replayed on the learning curves of unpruned studies.

Running a study per pruner setting and sampler seed costs about 8 CPU-minutes each on
digits and 3 CPU-hours on Fashion-MNIST; a sweep over warm-ups, startup trials and
reduction factors would take days. The
unpruned studies of `bench_search_efficiency.py` already hold every trial's full curve
(validation log loss after each epoch), so this script feeds those curves, trial by
trial in the order they ran, to Optuna's own pruners: a trial stops where the pruner
says so and costs the epochs it trained. What a replay cannot show is how the sampler
would have moved had it seen pruned trials; the live studies of
`bench_search_efficiency.py` measure that for the settings worth it.

For each setting: the epochs the search costs, the share of trials it stops,
whether it keeps the unpruned study's best trial, the best value it keeps, and the
epochs until its best value is within the seed noise of the unpruned TPE's final best
(the target of `bench_search_efficiency.py`), against the unpruned search's own.

    python tests/benchmarks/bench_pruner_replay.py --root DIR [--seeds 0,1] [--sources tpe,random] [--warmups 1,2,3]
    python tests/benchmarks/bench_pruner_replay.py --studies tests/benchmarks/results/search_efficiency_fashion \
        --seeds 0,1,2 --sources tpe --warmups 3,6,9,12
"""

import argparse
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_search_efficiency import REFERENCE, curve, load, reached, seed_noise  # noqa: E402


def settings(warmups: list[int]) -> list[tuple[str, dict]]:
    """The pruner settings replayed, each warm-up (epochs before the first judgement) with each."""
    return (
        [("none", {})]
        + [("median", {"warmup": w, "startup": s}) for s in (5, 2) for w in warmups]
        + [("asha", {"warmup": w, "reduction": r}) for r in (2, 3, 4) for w in warmups]
        + [("hyperband", {"warmup": w, "reduction": 3}) for w in warmups]
    )


def recorded_trials(study) -> list[tuple[list[float], float]]:
    """(value after each epoch, final value) of the complete trials, in the order they finished."""
    from optuna.trial import TrialState

    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    done.sort(key=lambda t: t.datetime_complete)
    return [([t.intermediate_values[s] for s in sorted(t.intermediate_values)], t.value) for t in done]


def rank_agreement(studies) -> tuple[int, list[float]]:
    """Spearman correlation, over the distinct trials of the longest length (a space that
    searches the length has others), of the value after each epoch with the final value;
    and how many trials that is."""
    from scipy.stats import spearmanr

    distinct = {tuple(values): values for trials in studies for values, _ in trials}  # TPE's startup repeats random's
    curves = [values for values in distinct.values() if len(values) == max(map(len, distinct.values()))]
    return len(curves), [spearmanr([c[step] for c in curves], [c[-1] for c in curves])[0] for step in range(len(curves[0]))]


def replay(trials, name: str, settings: dict, target: float) -> dict:
    """Feed `trials` to a fresh study with skp's pruner `name`; what it would have cost and kept."""
    import optuna

    from skp.tune.pruners import PrunerSettings, make_pruner

    # named: Hyperband draws a trial's bracket from the study's name, and an unnamed study's is random
    study = optuna.create_study(study_name="replay", direction="minimize", pruner=make_pruner(name, PrunerSettings(**settings)))
    epochs, best, points, stopped, kept = 0, math.inf, [], 0, []
    for values, final in trials:
        trial = study.ask()
        last = len(values) - 1
        for step, value in enumerate(values):
            trial.report(value, step)
            # skp never prunes at the last epoch (ReportToTrial)
            if step < last and trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                epochs += step + 1
                stopped += 1
                break
        else:
            study.tell(trial, final)
            epochs += len(values)
            best = min(best, final)
            kept.append(final)
        points.append((epochs, 0.0, best))
    return summary(trials, epochs, stopped, kept, best, points, target)


def oracle(trials, warmup: int, target: float) -> dict:
    """A pruner that knows every final value: at its first judgement (step `warmup`, after
    epoch warmup + 1, as skp's pruners) it stops every trial that will not reach the target
    (all but the best, on a sequence where none does), and lets the others finish. A pruner
    judging from that step pays at least warmup + 1 epochs for each trial and all of the
    trial that takes it to the target, so none gets there with fewer epochs on this
    sequence of trials: the oracle's epochs to target bound what any of them can save."""
    goal = max(target, min(final for _, final in trials))
    epochs, best, points, stopped, kept = 0, math.inf, [], 0, []
    for values, final in trials:
        if final <= goal or len(values) <= warmup + 1:  # never stopped at its last epoch
            epochs += len(values)
            best = min(best, final)
            kept.append(final)
        else:
            epochs += warmup + 1
            stopped += 1
        points.append((epochs, 0.0, best))
    return summary(trials, epochs, stopped, kept, best, points, target)


def summary(trials, epochs: int, stopped: int, kept: list, best: float, points: list, target: float) -> dict:
    return {
        "epochs": epochs,
        "stopped": stopped / len(trials),
        "kept_best": min(final for _, final in trials) in kept,
        "best": best,
        "to_target": (reached(points, target) or (None,))[0],
    }


def label(name: str, settings: dict) -> str:
    flags = {"warmup": "warm-up", "startup": "startup", "reduction": "reduction"}
    return " ".join([name] + [f"{flags[k]} {v}" for k, v in settings.items()])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--root", type=Path, help="the --root of a finished bench_search_efficiency.py run")
    where.add_argument("--studies", type=Path, help="its --studies folder, when not ROOT/studies")
    parser.add_argument("--seeds", default="0,1", help="sampler seeds of its studies")
    parser.add_argument("--sources", default="tpe,random", help="unpruned strategies whose curves are replayed")
    parser.add_argument("--warmups", default="1,2,3,4", help="warm-ups replayed (epochs before a pruner first judges)")
    args = parser.parse_args()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    studies, seeds = args.studies or args.root / "studies", [int(s) for s in args.seeds.split(",")]
    noise, _ = seed_noise(seeds, studies)
    reference = statistics.fmean(curve(load(f"{REFERENCE}-{s}", studies))[-1][2] for s in seeds)
    target = reference + noise
    recorded = [recorded_trials(load(f"{source}-{s}", studies)) for source in args.sources.split(",") for s in seeds]
    print(f"{len(recorded)} unpruned studies ({args.sources} x seeds {args.seeds}), {sum(map(len, recorded))} trials; "
          f"target {target:.4f} (reference {reference:.4f} + seed noise {noise:.4f})\n")
    count, agreement = rank_agreement(recorded)
    print(f"rank agreement (Spearman) of the value after epoch k with the final value, {count} trials of {len(agreement)} epochs:")
    print("| epoch | " + " | ".join(str(k + 1) for k in range(len(agreement))) + " |")
    print("|---|" + "---|" * len(agreement))
    print("| rho | " + " | ".join(f"{rho:.2f}" for rho in agreement) + " |\n")
    unpruned = [replay(trials, "none", {}, target) for trials in recorded]
    base_to_target = statistics.fmean(r["to_target"] for r in unpruned if r["to_target"])
    base_epochs = statistics.fmean(r["epochs"] for r in unpruned)
    print("| pruner | epochs (of the search) | trials stopped | keeps the best trial | best kept | epochs to target | reached "
          "| compute to target, unpruned / this |")
    print("|---|---|---|---|---|---|---|---|")
    warmups = [int(w) for w in args.warmups.split(",")]
    rows = [(f"oracle warm-up {w}", lambda trials, w=w: oracle(trials, w, target)) for w in warmups]
    rows += [(label(name, setting), lambda trials, name=name, setting=setting: replay(trials, name, setting, target))
             for name, setting in settings(warmups)]
    for row, run in rows:
        runs = [run(trials) for trials in recorded]
        hits = [r["to_target"] for r in runs if r["to_target"]]
        ratio = f"{base_to_target / statistics.fmean(hits):.2f}x" if hits else "-"
        print(f"| {row} | {statistics.fmean(r['epochs'] for r in runs):.0f} "
              f"({statistics.fmean(r['epochs'] for r in runs) / base_epochs:.0%}) "
              f"| {statistics.fmean(r['stopped'] for r in runs):.0%} | {sum(r['kept_best'] for r in runs)}/{len(runs)} "
              f"| {statistics.fmean(r['best'] for r in runs):.4f} | {statistics.fmean(hits) if hits else float('nan'):.0f} "
              f"| {len(hits)}/{len(runs)} | {ratio} |")


if __name__ == "__main__":
    main()
