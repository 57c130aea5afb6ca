"""Search efficiency: compute each search strategy spends to reach the unpruned TPE's best value.

Every strategy searches the same space on digits fold 0 (validation log loss at the last
epoch, `min`) with trials of --epochs epochs each: learning rate 1e-5 to 3e-2, weight
decay 1e-5 to 1e-1, dropout 0 to 0.5, a first study's ranges. The studies run without
the baseline trial (`--no-baseline`): digits' own settings are already within the seed
noise of the best at 10 epochs, so with them every strategy would reach the target at
its first trial. Once per sampler seed, each as a fresh `skp-tune` process:

- tpe:           TPE, no pruning, --trials N (the reference)
- random:        random search, no pruning, --trials N
- tpe-default:   TPE + skp-tune's default pruner and settings (no pruner flag)
- tpe-median:    TPE + the median pruner judging from epoch 2 (skp's earlier default)
- tpe-median-w3: TPE + the median pruner judging from epoch 4
- tpe-sh:        TPE + successive halving (`--pruner asha`) from epoch 2
- tpe-sh-w2:     TPE + successive halving from epoch 3
- tpe-hyperband: TPE + Optuna's Hyperband from epoch 2 (reduction factor 3, as all here)
- tpe-rungs:     TPE + `--pruner rungs` (successive halving over complete schedules)
- tpe-rungs-continued: TPE + `--pruner rungs-continued` (survivors train on from their rung)
- ray-asha:      the Ray backend's successive halving from epoch 2, one trial at a time
- ray-default:   the Ray backend with skp-tune's default pruner and settings, one trial at a time
- ray-rungs, ray-rungs-continued: the same rungs as tpe-rungs(-continued) on the Ray backend, one trial at a time

(The Ray backend's schedulers apply the Optuna pruners' rules since 2026-12-01,
skp.tune.ray_schedulers; the ray-* rows of docs/benchmarks.md's digits table are from
before, Ray's own ASHA and median stopping rule.)

A pruned strategy gets --pruned-trials trials (default 3N) and is read only up to the
reference's budget: N x epochs epochs; it is stopped (Ctrl-C) once it has spent them, so
its spare trials cost nothing. The unpruned TPE's best trial of each seed is then
re-trained on two more training seeds (`--confirm 1`): the pooled standard deviation of
those values is the seed noise. A strategy "reaches" the target when the best complete
trial so far is within that noise of the reference value (the unpruned TPE's final best,
mean over sampler seeds); the table gives the epochs and seconds it took, and the ratio
of the reference's own epochs to them (above 1: less compute). Curves (best value so far
against epochs spent) go to a PNG.

    python tests/benchmarks/bench_search_efficiency.py [--seeds 0,1] [--trials 16] [--epochs 10]
        [--methods tpe,random,tpe-default,...] [--root DIR] [--plot PATH]

`--config NAME` searches a project's own config and space instead (for example
`fashion.cfg_baseline`, whose space includes the training length): trials then differ in
length, and the budget is the reference's own epochs (the most any of its seeds spent).

Studies are kept under --root and resumed: re-running the command only adds what is missing.
`--studies DIR` keeps the study journals there instead of ROOT/studies, for example in
the repository, so that a measurement longer than one machine's life goes on from the
committed journals on the next: a trial whose worker died is queued again and trained
from scratch (the same seed gives the same run), and the dead attempt is not counted.

`--keep-baseline` keeps the config's own settings as every study's first trial (on
Fashion-MNIST they are far from the best, so digits' reason to drop them does not hold).
`--stop-fraction F` stops every strategy but the reference once it has spent F of the
budget (the issue's target, the reference's best with 3x fewer epochs, is decided by
F = 1/3: a CPU-bound measurement spends no more). Their "best within budget" is then
within that fraction, and the table says so.
`--status` prints where each study under --studies stands, finished or not.
The first run writes its settings (--config or --epochs, --trials, --pruned-trials,
--keep-baseline, --stop-fraction, --batches) into the studies folder as bench.json; later
runs and reports read them from there and refuse other values, so
`--report --seeds 0,1,2 --methods ... --studies DIR` needs no more. The report ends with
each strategy's standing against the decision rule docs/benchmarks.md wrote for
Fashion-MNIST: meets it, does not (and why), or undecided (seeds still to run).
`--held-out SEEDS` runs the strategies (not the reference) on more sampler seeds, once
the defaults are chosen: stopped at --stop-fraction of the budget the references of
--seeds set, judged against their target, and reported in rows of their own.
`--reuse-reference JOURNAL:STUDY` takes an earlier unpruned TPE study of the same config
and sampler seed (for example bench_fashion_loop.py's, seed 0) as the first seed's
reference instead of running it again: its finished trials, without failed ones, are
copied as the study `tpe-<seed>`, and their training seconds are its wall time.
"""

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METHODS = {
    "tpe": ["--sampler", "tpe", "--pruner", "none"],
    "random": ["--sampler", "random", "--pruner", "none"],
    "tpe-default": ["--sampler", "tpe"],  # skp-tune's default pruner and settings
    "tpe-median": ["--sampler", "tpe", "--pruner", "median", "--pruner-warmup", "1"],
    "tpe-median-w3": ["--sampler", "tpe", "--pruner", "median", "--pruner-warmup", "3"],
    "tpe-sh": ["--sampler", "tpe", "--pruner", "asha", "--pruner-warmup", "1"],
    "tpe-sh-w2": ["--sampler", "tpe", "--pruner", "asha", "--pruner-warmup", "2"],
    "tpe-hyperband": ["--sampler", "tpe", "--pruner", "hyperband", "--pruner-warmup", "1"],
    "tpe-rungs": ["--sampler", "tpe", "--pruner", "rungs"],  # complete schedules per rung, default first rung
    "tpe-rungs-continued": ["--sampler", "tpe", "--pruner", "rungs-continued"],
    "ray-asha": ["--backend", "ray", "--pruner", "asha", "--pruner-warmup", "1", "--max-concurrent", "1", "--cpus-per-trial", "1"],
    "ray-default": ["--backend", "ray", "--max-concurrent", "1", "--cpus-per-trial", "1"],
    "ray-rungs": ["--backend", "ray", "--pruner", "rungs", "--max-concurrent", "1", "--cpus-per-trial", "1"],
    "ray-rungs-continued": ["--backend", "ray", "--pruner", "rungs-continued", "--max-concurrent", "1", "--cpus-per-trial", "1"],
}
UNPRUNED = {"tpe", "random"}
POLL_SECONDS = 10
CONTINUED = {"tpe-rungs-continued", "ray-rungs-continued"}  # survivors' rungs continue: a trial trains its longest rung's epochs
REFERENCE = "tpe"
CHECK_SEEDS = 2  # the reference's best trial trained again on this many other seeds: the seed noise
STOP_GRACE_SECONDS = 120
STOP_FILE = "stop_epochs"  # beside a stopped study's journal: the epochs it was stopped at
SETTINGS_FILE = "bench.json"  # in the studies folder: the settings its studies ran with
# what defines a measurement: its studies are only comparable under the same values
SETTINGS = {"config": None, "epochs": None, "trials": 16, "pruned_trials": None, "keep_baseline": False,
            "stop_fraction": 1.0, "batches": None}

CONFIG = '''"""digits with a fixed training length and a first study's ranges (bench_search_efficiency)."""
from skp.configs import load_config
from skp.tune.space import Float

cfg = load_config("digits.cfg_baseline")
cfg.num_epochs = {epochs}
cfg.search_space = {{
    "optimizer_params.lr": Float(1e-5, 3e-2, log=True),
    "optimizer_params.weight_decay": Float(1e-5, 1e-1, log=True),
    "dropout": Float(0.0, 0.5),
}}
'''


def load(study_name: str, studies: Path):
    import optuna

    path = studies / study_name / "journal.log"
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    return optuna.load_study(study_name=study_name, storage=storage)


def reuse_reference(source: str, seed: int, studies: Path, keep_baseline: bool) -> None:
    """Copy the study `source` (JOURNAL:STUDY) as the reference of `seed`, once."""
    import optuna
    from optuna.trial import TrialState

    name = f"{REFERENCE}-{seed}"
    timing = studies / name / "wall_seconds"
    if timing.exists():
        return
    journal, _, study_name = source.rpartition(":")
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    original = optuna.load_study(study_name=study_name, storage=storage)
    trials = [t for t in original.trials if t.state != TrialState.FAIL]
    if any(t.user_attrs.get("baseline") for t in trials) and not keep_baseline:
        sys.exit(f"{source} holds the config's baseline trial: give --keep-baseline so that every strategy's study has it too.")
    (studies / name).mkdir(parents=True, exist_ok=True)
    copy = optuna.create_study(study_name=name, direction=original.direction, storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(studies / name / "journal.log"))))
    for key, value in original.user_attrs.items():
        copy.set_user_attr(key, value)
    copy.add_trials(trials)
    timing.write_text(str(sum((t.datetime_complete - t.datetime_start).total_seconds() for t in trials)))
    print(f"{name}: {len(trials)} trials of {source} (failed ones left out)", flush=True)


def run_study(method: str, seed: int, trials: int, config: Path | str, root: Path, studies: Path, env: dict, extra=(), timed=True,
              stop_at: int | None = None, keep_baseline: bool = False) -> None:
    """Run (or resume) one study; its wall seconds go beside the journal, kept across
    re-runs (`timed=False`: a follow-up command on a finished study, not timed).
    `stop_at`: interrupt it (Ctrl-C) once its finished trials spent that many epochs,
    since the report reads no further (a pruned strategy's spare trials cost hours on
    Fashion-MNIST)."""
    name = f"{method}-{seed}"
    timing = studies / name / "wall_seconds"
    if timing.exists() and timed:
        return
    clock = WallClock(studies / name / "wall_seconds.partial") if timed else None
    if stop_at is not None:  # the report reads no further, even if the study ran on past it
        (studies / name).mkdir(parents=True, exist_ok=True)
        (studies / name / STOP_FILE).write_text(str(stop_at))
    command = [sys.executable, "-m", "skp.tune.cli", str(config), "--study", name, "--seed", str(seed),
               "--trials", str(trials), "--enable_progress_bar", "False", "--no-export",
               *([] if keep_baseline else ["--no-baseline"]), *METHODS[method], *extra]
    trim_partial_line(studies / name / "journal.log")
    log = root / f"{name}.log"
    with open(log, "a") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        while process.poll() is None:
            time.sleep(POLL_SECONDS)
            if clock:
                clock.tick()
            if stop_at is not None and process.poll() is None and spent(name, studies, method in CONTINUED) > stop_at:
                out.write(f"bench_search_efficiency: past the budget of {stop_at} epochs: stopping the study\n")
                out.flush()
                seconds = clock.tick()  # the study's time ends here, however long it takes to stop
                stop(process, out)
                timing.write_text(str(seconds))
                return
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed with status {process.returncode}; its output is in {log}")
    if clock:
        timing.write_text(str(clock.tick()))


def stop(process, out, grace: float = STOP_GRACE_SECONDS) -> None:
    """Ctrl-C, and if the study has not stopped within `grace` seconds, kill it (its
    running trial is lost either way, and a study that ignores Ctrl-C would otherwise
    train on unseen)."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        out.write(f"bench_search_efficiency: still running {grace:g} s after Ctrl-C: killed\n")
        out.flush()
        process.kill()
        process.wait()


class WallClock:
    """A study's wall seconds over all the processes (and machines) that ran it: each run
    adds its own to what `path` holds, written every poll, so a run killed with its machine
    loses at most one poll's seconds. The attempts of trials that died with it are
    included: they were spent (the report counts those trials out of the epochs)."""

    def __init__(self, path: Path):
        self.path = path
        self.before = float(path.read_text()) if path.exists() else 0.0
        self.started = time.time()

    def tick(self) -> float:
        total = self.before + time.time() - self.started
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".tmp")
        partial.write_text(f"{total:.1f}")
        os.replace(partial, self.path)  # a kill mid-write leaves the last whole figure
        return total


def trim_partial_line(journal: Path) -> None:
    """Cut a journal copied while a line was being written back to its last whole line
    (Optuna would read the next process's first line glued to it as invalid)."""
    if journal.exists() and (text := journal.read_bytes()) and not text.endswith(b"\n"):
        journal.write_bytes(text[: text.rfind(b"\n") + 1])


def spent(name: str, studies: Path, continued: bool) -> int:
    """Epochs the study's finished trials trained so far (0 before its journal exists)."""
    if not (studies / name / "journal.log").exists():
        return 0
    points = curve(load(name, studies), continued)
    return points[-1][0] if points else 0


def trial_epochs(trial, continued: bool = False) -> int:
    """Epochs a trial trained: one per reported value, except under rungs, which report
    once per rung (user attribute `rungs`): each rung's whole schedule from scratch, or
    with `continued` (rungs-continued) its longest rung only."""
    rungs = trial.user_attrs.get("rungs")
    if not rungs:
        return len(trial.intermediate_values)
    lengths = [int(length) for length in rungs]
    return max(lengths) if continued else sum(lengths)


def finished_trials(study) -> list:
    """The study's finished trials in the order they finished, without those whose worker
    died and which skp-tune queued again (`retry_of`): a study continued on another
    machine from its committed journal loses its running trial that way, which says
    nothing of the strategy; the retry trains the same parameters again and counts."""
    retried = {t.user_attrs["retry_of"] for t in study.trials if "retry_of" in t.user_attrs}
    finished = [t for t in study.trials if t.state.is_finished() and t.datetime_complete is not None and t.number not in retried]
    return sorted(finished, key=lambda t: t.datetime_complete)


def trial_seconds(trial, trials: list) -> float:
    """Seconds a trial trained: its own, and for a retry that went on from its dead
    attempts (user attribute `resumed_from`) theirs up to their last heartbeat, which
    skp-tune refreshes every minute (the attempt's end is only known when it was found
    dead, perhaps on the next machine)."""
    from skp.tune.trial import HEARTBEAT

    seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
    while "resumed_from" in trial.user_attrs:
        trial = trials[trial.user_attrs["resumed_from"]]
        seconds += trial.system_attrs.get(HEARTBEAT, trial.datetime_start.timestamp()) - trial.datetime_start.timestamp()
    return seconds


def curve(study, continued: bool = False) -> list[tuple[int, float, float]]:
    """(epochs spent, seconds spent, best complete value so far) after each finished trial,
    in the order trials finished (`continued`: trial_epochs')."""
    from optuna.trial import TrialState

    points, epochs, seconds, best = [], 0, 0.0, math.inf
    trials = study.trials
    for trial in finished_trials(study):
        epochs += trial_epochs(trial, continued)
        seconds += trial_seconds(trial, trials)
        if trial.state == TrialState.COMPLETE and trial.value is not None and math.isfinite(trial.value):
            best = min(best, trial.value)
        points.append((epochs, seconds, best))
    return points


def complete_within(study, budget: int, continued: bool = False) -> int:
    """Complete trials among those that finished within `budget` epochs."""
    from optuna.trial import TrialState

    count, epochs = 0, 0
    for trial in finished_trials(study):
        epochs += trial_epochs(trial, continued)
        if epochs > budget:
            break
        count += trial.state == TrialState.COMPLETE
    return count


def budget_so_far(studies: Path, seeds: list, trials: int, epochs_per_trial: int | None) -> int | None:
    """The epochs the report will read: trials x epochs, or with trials of varying length
    half as much again as the most a finished reference study spent (later seeds' may
    spend more); None before any did."""
    if epochs_per_trial:
        return trials * epochs_per_trial
    spent_by = [spent(f"{REFERENCE}-{s}", studies, False) for s in seeds if (studies / f"{REFERENCE}-{s}" / "wall_seconds").exists()]
    return round(1.5 * max(spent_by)) if spent_by else None


def until_stopped(points: list, study_dir: Path) -> list:
    """A stopped study's points up to the trial whose epochs took it past its stop, where
    the bench sent Ctrl-C: a study that ran on past it counts no further."""
    stop_file = study_dir / STOP_FILE
    if not stop_file.exists():
        return points
    crossed = next((i for i, (epochs, _, _) in enumerate(points) if epochs > int(stop_file.read_text())), len(points))
    return points[: crossed + 1]


def within_budget(points: list, budget: int) -> list:
    return [p for p in points if p[0] <= budget]


def best_at(points: list, epochs: int) -> float | None:
    """The best value a search held once it had spent `epochs` (None before its first trial ended)."""
    held = [best for e, _, best in points if e <= epochs]
    return held[-1] if held else None


def reached(points: list, target: float):
    """The first (epochs, seconds) at which the best value is at or below `target`, else None."""
    return next(((e, s) for e, s, best in points if best <= target), None)


def best_seed_check(study) -> dict:
    """The values on other seeds of the study's best trial ({} before --confirm ran)."""
    from skp.tune.confirm import ATTR_PREFIX

    return study.user_attrs.get(f"{ATTR_PREFIX}{study.best_trial.number}") or {}


def seed_checked(seed: int, studies: Path) -> bool:
    """Whether the reference study of `seed` holds its best trial's whole seed check (a
    re-run that adds strategies does not train it again; one killed midway finishes it)."""
    return check_complete(load(f"{REFERENCE}-{seed}", studies))


def check_complete(study) -> bool:
    return len(best_seed_check(study)) >= CHECK_SEEDS


def seed_noise(seeds: list[int], studies: Path) -> tuple[float, list]:
    """Pooled standard deviation over training seeds of each reference study's best trial."""
    variances, rows = [], []
    for seed in seeds:
        study = load(f"{REFERENCE}-{seed}", studies)
        best = study.best_trial
        values = [best.value, *best_seed_check(study).values()]
        if len(values) > 1:
            variances.append(statistics.variance(values))
            rows.append((seed, best.number, values))
    if not variances:
        sys.exit("no seed check found: the reference studies must run with --confirm")
    return math.sqrt(statistics.fmean(variances)), rows


def mean_std(values: list) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.fmean(values):.4g} ± {statistics.stdev(values):.2g}"


def plot(curves: dict, target: float, budget: int, path: Path) -> None:
    """One panel per strategy: its seeds' curves over the reference's, in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = {m: runs for m, runs in curves.items() if runs}
    columns = min(3, len(shown))
    rows = math.ceil(len(shown) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), sharex=True, sharey=True, squeeze=False)
    for ax, (method, runs) in zip(axes.flat, shown.items()):
        for reference_points in curves[REFERENCE]:
            ax.step(*zip(*[(e, b) for e, _, b in reference_points if math.isfinite(b)]), where="post", color="0.75", linewidth=1)
        for points in runs:
            finite = [(e, b) for e, _, b in points if math.isfinite(b)]
            if finite:
                ax.step(*zip(*finite), where="post", color="C0", alpha=0.9)
        ax.axhline(target, color="black", linestyle="--", linewidth=1)
        ax.axvline(budget / 3, color="black", linestyle=":", linewidth=1)  # issue 22's 3x: cross the target left of it
        ax.set_title(f"{method} ({len(runs)} seed{'s' * (len(runs) != 1)})", fontsize=10)
        ax.set_xlim(0, budget)
        ax.set_yscale("log")
    for ax in axes.flat[len(shown):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("epochs spent")
    for ax in axes[:, 0]:
        ax.set_ylabel("best log loss so far")
    fig.suptitle(f"best validation log loss against epochs (grey: unpruned TPE, every seed; dashed: target {target:.4f}; "
                 f"dotted: a third of the budget)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1", help="sampler seeds")
    parser.add_argument("--trials", type=int, help="trials of the unpruned searches (N, default 16)")
    parser.add_argument("--pruned-trials", type=int, help="trials of the pruned searches (default 3N)")
    parser.add_argument("--epochs", type=int, help="epochs of an unpruned trial of the digits config (default 10)")
    parser.add_argument("--config", help="search this config and its own space instead of digits at --epochs")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--root", help="folder for data, runs and studies (default: a temporary one)")
    parser.add_argument("--studies", help="folder for the study journals instead of ROOT/studies (one kept in the repository)")
    parser.add_argument("--plot", default="search_efficiency.png")
    parser.add_argument("--batches", type=int, help="training batches per epoch (for a quick try; default: all)")
    parser.add_argument("--report", action="store_true", help="run nothing: report the studies already under --root")
    parser.add_argument("--status", action="store_true", help="run nothing: where each study under --studies stands, finished or not")
    parser.add_argument("--keep-baseline", action="store_true", default=None, help="every study starts with the config's own settings")
    parser.add_argument("--stop-fraction", type=float, help="stop every strategy but the reference at this fraction of the budget (default 1)")
    parser.add_argument("--reuse-reference", metavar="JOURNAL:STUDY", help="the first seed's reference: an earlier unpruned TPE study")
    parser.add_argument("--held-out", default="", metavar="SEEDS",
                        help="sampler seeds on which the strategies run without a reference of their own, stopped and judged by the references of --seeds")
    args = parser.parse_args()
    let_children_be_interrupted()
    seeds = [int(s) for s in args.seeds.split(",")]
    held_out = [int(s) for s in args.held_out.split(",") if s]
    if set(held_out) & set(seeds):
        parser.error(f"--held-out seeds must not be among --seeds (their references set the budget and target); both hold {sorted(set(held_out) & set(seeds))}")
    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown or REFERENCE not in methods:
        parser.error(f"--methods takes names from {', '.join(METHODS)} and must include {REFERENCE}; got {unknown or methods}")
    root = Path(args.root or tempfile.mkdtemp(prefix="skp-search-"))
    root.mkdir(parents=True, exist_ok=True)
    studies = Path(args.studies or root / "studies").resolve()
    if args.config and args.epochs:
        parser.error("--epochs sets the digits config's training length; --config searches its own space (drop one)")
    if args.status:
        return status(studies)
    try:
        vars(args).update(settings(studies, args, record=not args.report))
    except ValueError as error:
        parser.error(str(error))
    if args.config:
        config = args.config
    else:
        config = root / "cfg_search.py"
        config.write_text(CONFIG.format(epochs=args.epochs or 10))
    env = {**os.environ, "SKP_DATA_DIR": f"{root}/data", "SKP_SAVE_DIR": f"{root}/runs",
           "SKP_STUDIES_DIR": str(studies), "RAY_USAGE_STATS_ENABLED": "0"}
    limit = ["--limit_train_batches", str(args.batches)] if args.batches else []

    if not args.report:
        if args.reuse_reference:
            reuse_reference(args.reuse_reference, seeds[0], studies, args.keep_baseline)
        def run(method, seed, kind=""):
            trials = args.trials if method in UNPRUNED else (args.pruned_trials or 3 * args.trials)
            print(f"{method}, {kind}seed {seed}: {trials} trials", flush=True)
            run_study(method, seed, trials, config, root, studies, env, limit, stop_at=stop_epochs(method, studies, seeds, args),
                      keep_baseline=args.keep_baseline)

        for seed in seeds:
            for method in sorted(methods, key=lambda m: m != REFERENCE):  # the reference first: it sets the budget
                run(method, seed)
            if not seed_checked(seed, studies):
                run_study(REFERENCE, seed, args.trials, config, root, studies, env, ["--confirm", "1", "--confirm-seeds", str(CHECK_SEEDS), *limit], timed=False,
                          keep_baseline=args.keep_baseline)
        for seed in held_out:  # no reference of their own: the budget and target are --seeds'
            for method in methods:
                if method != REFERENCE:
                    run(method, seed, "held-out ")
    report(studies, seeds, methods, args.trials, None if args.config else args.epochs or 10, Path(args.plot), args.stop_fraction, held_out)


def settings(studies: Path, args, record: bool) -> dict:
    """The measurement's settings: those its studies folder ran with (SETTINGS_FILE), or
    the given ones and the defaults, written there by the first run (`record`). A report
    or run with settings other than the folder's would compare studies that are not
    comparable (the fashion studies read at digits' 16 x 10 epochs gave a 160-epoch
    budget and another target), so one is refused, naming what differs."""
    given = {key: getattr(args, key) for key in SETTINGS if getattr(args, key) is not None}
    path = studies / SETTINGS_FILE
    if path.exists():
        recorded = json.loads(path.read_text())
        differ = {key: value for key, value in given.items() if recorded.get(key, SETTINGS[key]) != value}
        if differ:
            raise ValueError(
                f"{studies} holds studies run with {flags(recorded)}; this command gives "
                f"{flags(differ)}. Leave those flags out (they are read from {path}) or give another --studies folder.")
        return {**SETTINGS, **recorded}
    chosen = {**SETTINGS, **given}
    if record:
        studies.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({key: value for key, value in chosen.items() if value != SETTINGS[key]}, indent=1) + "\n")
    return chosen


def flags(values: dict) -> str:
    shown = [f"--{key.replace('_', '-')}" + ("" if value is True else f" {value}")
             for key, value in values.items() if value is not None and value is not False]
    return " ".join(shown) or "the defaults"


def status(studies_dir: Path) -> None:
    """One line per study under `studies_dir`, finished or not: for a measurement that runs
    over many sessions, what is done and what is left."""
    for directory in sorted(d for d in studies_dir.iterdir() if (d / "journal.log").exists()):
        study = load(directory.name, studies_dir)
        points = until_stopped(curve(study, directory.name.rsplit("-", 1)[0] in CONTINUED), directory)
        epochs, _, best = points[-1] if points else (0, 0.0, math.inf)
        if (directory / "wall_seconds").exists():
            state = f"finished, {float((directory / 'wall_seconds').read_text()):,.0f} wall s"
        else:
            partial = directory / "wall_seconds.partial"
            state = f"running or interrupted, {float(partial.read_text()) if partial.exists() else 0:,.0f} wall s so far"
        stop_file = directory / STOP_FILE
        extras = [f"stops at {stop_file.read_text().strip()} epochs" if stop_file.exists() else "",
                  seed_check_state(study) if directory.name.startswith(f"{REFERENCE}-") and math.isfinite(best) else ""]
        print(f"{directory.name:28} {len(points):3} finished trials, {epochs:4} epochs, best {best:.4f}; {state}"
              + "".join(f"; {e}" for e in extras if e))


def seed_check_state(study) -> str:
    done = len(best_seed_check(study))
    if not done:
        return ""
    return "seed check done" if done >= CHECK_SEEDS else f"seed check: {done} of {CHECK_SEEDS} seeds"


def let_children_be_interrupted() -> None:
    """Started in the background (`nohup ... &`), the bench and so skp-tune inherit SIGINT
    ignored, and skp-tune would not stop at the bench's Ctrl-C. A handled signal is back
    to the default in every child."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def stop_epochs(method: str, studies: Path, seeds: list, args) -> int | None:
    """Where a strategy's study is stopped: pruned ones at the budget (spare trials cost
    nothing), any but the reference at --stop-fraction of it; None: it runs its trials."""
    if method == REFERENCE or (method in UNPRUNED and args.stop_fraction >= 1):
        return None
    budget = budget_so_far(studies, seeds, args.trials, None if args.config else args.epochs or 10)
    return None if budget is None else round(budget * min(args.stop_fraction, 1.0))


def report(studies_dir: Path, seeds: list, methods: list, trials: int, epochs_per_trial: int | None, plot_path: Path,
           stop_fraction: float = 1.0, held_out: tuple = ()) -> None:
    """The table and the plot, over the (method, seed) studies that exist in `studies_dir`.
    Trials of varying length (`epochs_per_trial` None): the budget is the reference's own.
    Strategies on `held_out` seeds get rows of their own, against the same target."""
    def ran_on(method, among):
        return [s for s in among if (studies_dir / f"{method}-{s}" / "wall_seconds").exists()]

    references = ran_on(REFERENCE, seeds)
    noise, checks = seed_noise(references, studies_dir)
    rows = {m: (m, ran_on(m, seeds)) for m in methods}
    rows.update({f"{m}, held out": (m, ran_on(m, held_out)) for m in methods if m != REFERENCE and held_out})
    rows = {row: (m, ran) for row, (m, ran) in rows.items() if ran}
    studies = {(m, s): load(f"{m}-{s}", studies_dir) for m, ran in rows.values() for s in ran}
    if epochs_per_trial:
        budget, shape = trials * epochs_per_trial, f"{trials} trials x {epochs_per_trial} epochs"
    else:
        budget = max(curve(studies[REFERENCE, s])[-1][0] for s in references)
        shape = f"{trials} trials of the config's own lengths"
    curves = {row: [within_budget(until_stopped(curve(studies[m, s], m in CONTINUED), studies_dir / f"{m}-{s}"), budget) for s in ran]
              for row, (m, ran) in rows.items()}
    reference = statistics.fmean(points[-1][2] for points in curves[REFERENCE])
    target = reference + noise
    reference_epochs = {s: reached(points, target) for s, points in zip(references, curves[REFERENCE])}

    print(f"\n{shape} (budget {budget} epochs), reference seeds {references}")
    for seed, number, values in checks:
        partial = "" if len(values) > CHECK_SEEDS else f" (its seed check is not finished: {len(values) - 1} of {CHECK_SEEDS} more seeds)"
        print(f"  seed noise: {REFERENCE}-{seed} trial {number} over {len(values)} training seeds: "
              f"{', '.join(f'{v:.4f}' for v in values)}{partial}")
    print(f"reference (unpruned TPE's final best, mean) {reference:.4f}; seed noise {noise:.4f}; target {target:.4f}\n")
    print("| strategy | seeds | reached | epochs to target | seconds to target | compute saved vs tpe's epochs to target, same seeds "
          f"| vs tpe's budget ({budget}) | best within budget | minus tpe's best at the same epochs, same seeds "
          "| trials in budget | of them complete | study wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    reference_curves = dict(zip(references, curves[REFERENCE]))
    verdicts = []
    for row, (method, ran) in rows.items():
        hits = [reached(points, target) for points in curves[row]]
        got = [h for h in hits if h]
        epochs = [h[0] for h in got]
        # against the reference on the same sampler seeds: their first trials are the same
        paired = [(reference_epochs[s][0], h[0]) for s, h in zip(ran, hits) if h and reference_epochs.get(s)]
        ratio = f"{sum(r for r, _ in paired) / sum(m for _, m in paired):.2f}x" if paired else "-"
        of_budget = f"{budget / statistics.fmean(epochs):.2f}x" if epochs else "-"
        finals = [points[-1][2] for points in curves[row] if points]
        # anytime: what the unpruned search held after as many epochs, on the same sampler seed
        ahead = [points[-1][2] - held for s, points in zip(ran, curves[row])
                 if method != REFERENCE and points and s in reference_curves
                 and (held := best_at(reference_curves[s], points[-1][0])) is not None]
        counts = [len(points) for points in curves[row]]
        # the trials the curve holds: within the budget, and a stopped study's up to its stop
        complete = [complete_within(studies[method, s], points[-1][0] if points else 0, method in CONTINUED)
                    for s, points in zip(ran, curves[row])]
        walls = [float((studies_dir / f"{method}-{s}" / "wall_seconds").read_text()) for s in ran]
        label = row if method == REFERENCE or stop_fraction >= 1 else f"{row} (stopped at {stop_fraction:.2g} of the budget)"
        print(f"| {label} | {','.join(map(str, ran))} | {len(got)}/{len(hits)} | {mean_std(epochs)} | {mean_std([h[1] for h in got])} "
              f"| {ratio} | {of_budget} | {mean_std(finals)} | {mean_std(ahead)} | {mean_std(counts)} | {mean_std(complete)} | {mean_std(walls)} |")
        if method != REFERENCE:
            verdicts.append(f"- {row}: {verdict(dict(zip(ran, hits)), finals, seeds if row == method else held_out, budget, target)}")
    provisional = "" if target_final(checks, seeds) else " PROVISIONAL: the target moves until every reference and its seed check is finished"
    print(f"\nThe decision rule (docs/benchmarks.md, written before any strategy ran):{provisional}", *verdicts, sep="\n")
    plot(curves, target, budget, plot_path)
    print(f"\ncurves: {plot_path}; studies in {studies_dir}")


def target_final(checks: list, seeds: list) -> bool:
    """Whether the target is settled: every seed's reference has its whole seed check
    (`checks`: seed_noise's rows, (seed, trial number, values over training seeds))."""
    return {seed for seed, _, values in checks if len(values) > CHECK_SEEDS} == set(seeds)


def verdict(hits: dict, finals: list, seeds: list, budget: int, target: float) -> str:
    """Whether a strategy meets issue 22's target, as the rule written before any strategy
    ran says: on every one of `seeds` it reaches the target, and its mean epochs to it are
    at most a third of the reference's budget. (The rule's third clause, a mean best within
    its stop no worse than the target, follows from the first.) `hits`: seed ->
    (epochs, seconds) to target or None, for the seeds it ran on; `finals`: its best within
    its stop on each."""
    missed = [s for s, hit in hits.items() if hit is None]
    if missed:
        return f"does not meet it: did not reach the target {target:.4f} on seed {', '.join(map(str, missed))}"
    left = [s for s in seeds if s not in hits]
    if left:
        return f"undecided: reached the target on seed {', '.join(map(str, hits))}; seed {', '.join(map(str, left))} still to run"
    ratio = budget / statistics.fmean(epochs for epochs, _ in hits.values())
    best = statistics.fmean(finals)
    if ratio < 3:
        return f"does not meet it: reached the target on every seed, {ratio:.2f}x sooner than the budget (3x asked)"
    return f"meets it on seed {', '.join(map(str, seeds))}: {ratio:.2f}x sooner than the budget, mean best within its stop {best:.4f} (target {target:.4f})"


if __name__ == "__main__":
    main()
