"""The whole loop on Fashion-MNIST, over training seeds: does tuning beat the baseline, and
does the chosen blend beat the tuned config, beyond the seed noise?

1. A study on fold 0 (the config's seed), as a user starts it:
       skp-tune fashion.cfg_baseline --study bench-fashion --trials T --pruner none --no-export --seed S
2. Its top K trials by study value (the baseline trial is one of the trials) and the
   baseline are trained on all five folds with every training seed (--seeds).
3. The tuned config is what promotion exports: of the top K, the best mean over folds at
   the first seed. It is then scored at every seed, as is everything else.
4. Blends of the top 3 and top 5 trials at each seed, by skp-ensemble's own pipeline
   (methods: auto, geometric, greedy), and auto on them with the baseline added (another
   architecture and length: the most different model trained); the CV log loss of a
   blend is cross-validated.
Test scores use solution.csv (10,000 images), on which nothing was fitted or selected.

Each entry is also scored on the test set with its first fold model alone (`NAME@1`,
skp-ensemble's `checkpoints=1`, from the cached predictions). CV judges one model per row
(each row's out-of-fold model), whereas a test prediction averages every fold model of
every member, itself an ensemble: the @1 rows show how much of a blend's CV gain is that
averaging, which the fold average of a single config already has on test.

Once the tuned config has run at every seed, its runs are blended too (`tuned-seeds`,
skp-ensemble's `auto`): the same 15 models per prediction as a top-3 blend, from one
config at three seeds. It tells whether blending the top trials adds anything beyond
training the best one more times.

Every step is resumable: skp-tune and skp-train continue where they stopped, an
ensemble reads its cached predictions, and rows already scored are read from
results.json. Re-run the same command after an interruption.

    python tests/benchmarks/bench_fashion_loop.py --root bench-fashion [--trials 20] [--seeds 42,43,44] [--top 3]
    python tests/benchmarks/bench_fashion_loop.py --root bench-fashion --report    # the tables from what exists
"""

import argparse
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

CONFIG = "fashion.cfg_baseline"
STUDY = "bench-fashion"
FOLDS = "0,1,2,3,4"
FIRST_SEED = 42  # the tuned config is chosen at this seed, whichever --seeds a process trains
TOP = 5  # --top: the largest blend; its members are trained at every seed
BLENDS = ("auto", "geometric", "greedy")
NOISE_FACTOR = 2.0
METRICS = ("cv_logloss", "cv_accuracy", "test_logloss", "test_accuracy")


def log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    picked = probabilities[np.arange(len(labels)), labels.astype(int)]
    return float(-np.log(np.clip(picked, 1e-15, 1.0)).mean())


def scores(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    return log_loss(probabilities, labels), float((probabilities.argmax(1) == labels).mean())


def run_study(trials: int, sampler_seed: int) -> None:
    subprocess.run(
        [sys.executable, "-m", "skp.tune.cli", CONFIG, "--study", STUDY, "--trials", str(trials), "--pruner", "none",
         "--no-export", "--seed", str(sampler_seed), "--enable_progress_bar", "False"],
        check=True,
    )


def top_trials(k: int) -> list[dict]:
    """{'label', 'overrides'} of the study's k best finished trials, best first."""
    import optuna

    from skp.tune.baseline import is_baseline
    from skp.tune.study import make_storage

    study = optuna.load_study(study_name=STUDY, storage=make_storage(None, STUDY))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    done.sort(key=lambda t: t.value)
    # the baseline trial trains as the plain config, so its runs are the baseline's
    return [{"label": "baseline" if is_baseline(t) else f"trial{t.number}", "overrides": [] if is_baseline(t) else t.user_attrs["overrides"],
             "study_value": t.value} for t in done[:k]]


def tokens(overrides) -> list[str]:
    return [token for key, value in overrides for token in (f"--{key}", repr(value) if not isinstance(value, str) else value)]


def train(label: str, overrides, seed: int) -> Path:
    from skp.training.folds import train_folds

    results = train_folds(CONFIG, tokens(overrides) + ["--seed", str(seed)], kfold=FOLDS, run_id=f"bench-{label}-seed{seed}",
                          trainer_kwargs={"enable_progress_bar": False})
    return Path(results[0]["fold_dir"]).parent


def compute(run: Path) -> tuple[int, float]:
    done = [json.loads(p.read_text()) for p in sorted(run.glob("fold*/done.json"))]
    return sum(d["epochs"] for d in done), sum(d["seconds"] for d in done)


def ensemble(name: str, runs: list[Path], method: str, root: Path, checkpoints: int | None = None) -> dict:
    """CV (blend: cross-validated) and test scores of skp-ensemble's blend of `runs`
    (`checkpoints`: test predictions from each member's first fold models only)."""
    from skp.ensemble import Recipe, Run
    from skp.ensemble.pipeline import run_ensemble

    output = root / "bench-ensembles" / name
    recipe = Recipe(members=[Run(path=str(r)) for r in runs], blend=method, checkpoints=checkpoints, output=str(output), name=name)
    summary = run_ensemble(recipe)
    return written_scores(summary, output, CONFIG)


def written_scores(summary: dict, output: Path, config: str) -> dict:
    """CV (the blend's: cross-validated) and test log loss and accuracy of the blend
    skp-ensemble wrote into `output`, test scored against the config's solution file."""
    from skp.configs import load_config

    cfg = load_config(config)
    solution = pd.read_csv(Path(cfg.data_dir) / cfg.solution_file)
    test = pd.read_csv(output / "test_predictions.csv").set_index(cfg.id_column).loc[solution[cfg.id_column]]
    oof = pd.read_csv(output / "oof.csv")
    train = pd.read_csv(Path(cfg.data_dir) / cfg.annotations_file).set_index(cfg.id_column).loc[oof[cfg.id_column]]
    columns = [c for c in oof.columns if c.startswith("pred_")]
    test_loss, test_acc = scores(test[columns].to_numpy(), solution[cfg.targets[0]].to_numpy())
    _, cv_acc = scores(oof[columns].to_numpy(), train[cfg.targets[0]].to_numpy())
    expected = summary["blend"].get("expected_on_test") or {}
    return {"cv_logloss": summary["blend"]["oof_cross_validated"], "cv_accuracy": cv_acc, "test_logloss": test_loss,
            "test_accuracy": test_acc, "method": summary["method"], "expected_test_gain": expected.get("expected_test_gain")}


def entry(rows: dict, key: str, make) -> dict:
    if key not in rows:
        rows[key] = make()
    return rows[key]


def save(results: dict, results_file: Path) -> None:
    """Write `results`, keeping rows another process (another --seeds) wrote meanwhile."""
    if results_file.exists():
        for key, row in json.loads(results_file.read_text())["rows"].items():
            results["rows"].setdefault(key, row)
    partial = results_file.with_suffix(".partial")
    partial.write_text(json.dumps(results, indent=2))
    partial.replace(results_file)


def measure(root: Path, seeds: list[int], results_file: Path, top_k: int = TOP) -> dict:
    results = json.loads(results_file.read_text()) if results_file.exists() else {"rows": {}}
    rows = results["rows"]
    top = top_trials(top_k)
    results["top"] = top
    members = [{"label": "baseline", "overrides": []}] + [m for m in top if m["label"] != "baseline"]
    for seed in seeds:
        runs = {}
        for member in members:
            run = train(member["label"], member["overrides"], seed)
            runs[member["label"]] = run
            epochs, seconds = compute(run)
            entry(rows, f"{member['label']}|{seed}", lambda: {**ensemble(f"{member['label']}-seed{seed}", [run], "mean", root),
                                                                 "epochs": epochs, "seconds": seconds})
            entry(rows, f"{member['label']}@1|{seed}", lambda: ensemble(f"{member['label']}@1-seed{seed}", [run], "mean", root, 1))
            save(results, results_file)
        for k in [k for k in (3, 5) if k <= top_k]:
            chosen = [runs[m["label"]] for m in top[:k]]
            if runs["baseline"] not in chosen:
                blended = chosen + [runs["baseline"]]
                entry(rows, f"top{k}+baseline-auto|{seed}", lambda: ensemble(f"top{k}+baseline-auto-seed{seed}", blended, "auto", root))
                entry(rows, f"top{k}+baseline-auto@1|{seed}", lambda: ensemble(f"top{k}+baseline-auto@1-seed{seed}", blended, "auto", root, 1))
            for method in BLENDS:
                entry(rows, f"top{k}-{method}|{seed}", lambda: ensemble(f"top{k}-{method}-seed{seed}", chosen, method, root))
                entry(rows, f"top{k}-{method}@1|{seed}", lambda: ensemble(f"top{k}-{method}@1-seed{seed}", chosen, method, root, 1))
                save(results, results_file)
    if all(f"{m['label']}|{FIRST_SEED}" in rows for m in top):
        results["tuned"] = min((m["label"] for m in top), key=lambda label: rows[f"{label}|{FIRST_SEED}"]["cv_logloss"])
        save(results, results_file)
        blend_seeds(results, results_file, root)
    return results


def blend_seeds(results: dict, results_file: Path, root: Path) -> None:
    """The tuned config's runs blended over every two or more seeds scored so far (any
    process's), alone and with the baseline at the first of those seeds."""
    tuned, rows = results["tuned"], results["rows"]
    scored = sorted(int(key.split("|")[1]) for key in rows if key.startswith(f"{tuned}|"))
    overrides = next(m["overrides"] for m in results["top"] if m["label"] == tuned)
    for size in range(2, len(scored) + 1):
        for seeds in itertools.combinations(scored, size):
            joined = "+".join(map(str, seeds))
            runs = [train(tuned, overrides, seed) for seed in seeds]
            for name, members in (("tuned-seeds", runs), ("tuned-seeds+baseline", runs + [train("baseline", [], seeds[0])])):
                entry(rows, f"{name}|{joined}", lambda: {**ensemble(f"{name}-{joined}", members, "auto", root), "seeds": list(seeds)})
                save(results, results_file)


def blend_names() -> list[str]:
    return [name for k in (3, 5) for name in (*(f"top{k}-{m}" for m in BLENDS), f"top{k}+baseline-auto")]


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else math.nan)


def report(results: dict, seeds: list[int], root: Path) -> None:
    rows = results["rows"]
    tuned = results.get("tuned")
    entries = list(dict.fromkeys(["baseline"] + ([tuned] if tuned else []) + [m["label"] for m in results.get("top", [])]))
    entries += blend_names()
    print("\n| entry | seeds | CV log loss | CV accuracy | test log loss | test accuracy | epochs | train seconds |")
    print("|---|---|---|---|---|---|---|---|")
    stats = {}
    for name in entries:
        mine = [rows[f"{name}|{s}"] for s in seeds if f"{name}|{s}" in rows]
        if not mine:
            continue
        stats[name] = {key: mean_std([r[key] for r in mine]) for key in METRICS}
        label = f"{name} (tuned)" if name == tuned else name
        cells = [f"{stats[name][key][0]:.4f} ± {stats[name][key][1]:.4f}" for key in METRICS]
        work = [f"{statistics.fmean(r['epochs'] for r in mine):.0f}", f"{statistics.fmean(r['seconds'] for r in mine):.0f}"] if "epochs" in mine[0] else ["", ""]
        print(f"| {label} | {len(mine)} | " + " | ".join(cells) + " | " + " | ".join(work) + " |")
    seed_blends(rows, stats, tuned)
    methods = {f"top{k}-auto": sorted({rows[key]['method'] for key in rows if key.startswith(f'top{k}-auto|')}) for k in (3, 5)}
    print("\nauto chose: " + "; ".join(f"{name}: {', '.join(m)}" for name, m in methods.items() if m))
    comparisons = [("baseline", tuned)] + [(tuned, name) for name in blend_names()]
    for reference, other in comparisons:
        if reference not in stats or other not in stats:
            continue
        for key in ("cv_logloss", "test_logloss"):
            print(f"{other} vs {reference}, {key}: {seed_noise_verdict(stats[reference][key], stats[other][key])}")
    fold_averaging(rows, seeds, tuned)
    auto_rules(rows, root)


def seed_blends(rows: dict, stats: dict, tuned: str | None) -> None:
    """Rows of the tuned config blended over its seeds (and with the baseline), then each
    top-K auto blend's mean over seeds against them."""
    keys = sorted((k for k in rows if k.startswith("tuned-seeds")), key=lambda k: (k.split("|")[0], -len(rows[k]["seeds"]), k))
    for key in keys:
        row = rows[key]
        cells = " | ".join(f"{row[metric]:.4f}" for metric in METRICS)
        extra = " and the baseline" if key.startswith("tuned-seeds+baseline") else ""
        print(f"| {tuned} at seeds {', '.join(map(str, row['seeds']))}{extra}, blended ({row['method']}) | 1 | {cells} | | |")
    for key in (k for k in keys if k.startswith("tuned-seeds|") and len(rows[k]["seeds"]) >= 3):
        for blend in (f"top{k}-auto" for k in (3, 5) if f"top{k}-auto" in stats):
            lower = rows[key]["test_logloss"] - stats[blend]["test_logloss"][0]
            print(f"\n{blend}, mean over seeds, against {key.replace('|', ' at ')}: test log loss {lower:+.4f} lower")


def auto_rules(rows: dict, root: Path) -> None:
    """What auto chose for each auto blend (by the expected test score), what the CV rule
    would have chosen, and the best candidate on test: every candidate re-blended from the
    blend's snapshot, the test labels used for the scores only."""
    from skp.ensemble.blend import BLENDS, blend
    from skp.ensemble.inputs import read_snapshot

    print("\n| auto blend | by CV | its test | by the expected score | its test | best candidate on test |")
    print("|---|---|---|---|---|---|")
    for key in sorted(k for k in rows if "auto" in k.split("|")[0] and "@1" not in k or k.startswith("tuned-seeds")):
        name, seeds = key.split("|")
        inputs = read_snapshot(root / "bench-ensembles" / (f"{name}-{seeds}" if name.startswith("tuned-seeds") else f"{name}-seed{seeds}"))
        if inputs is None or inputs.fold_tests is None:
            continue
        scorer, test_scorer = inputs.scorer(), inputs.scorer(test=True)
        choice = blend("auto", inputs.oofs, inputs.tests, scorer, inputs.row_folds, inputs.problem, fold_tests=inputs.fold_tests).choice
        order = sorted(range(len(inputs.oofs)), key=lambda i: scorer(inputs.oofs[i]))
        tests = []
        for candidate in choice["candidates"]:
            kept = order[:candidate["members"]]
            test = inputs.tests[kept[0]] if candidate["method"] == "best member" else BLENDS[candidate["method"]].run(
                [inputs.oofs[i] for i in kept], [inputs.tests[i] for i in kept], scorer, inputs.row_folds, inputs.problem,
                {"power": 2.0, "rounds": 50}).test
            tests.append(test_scorer(test))
        by_cv = min(range(len(tests)), key=lambda i: choice["candidates"][i]["cv"])
        by_expected = next(i for i, c in enumerate(choice["candidates"]) if (c["method"], c["members"]) == (choice["method"], choice["members"]))
        label = lambda i: f"{choice['candidates'][i]['method']}, {choice['candidates'][i]['members']}"  # noqa: E731
        print(f"| {name} ({seeds}) | {label(by_cv)} | {tests[by_cv]:.4f} | {label(by_expected)} | {tests[by_expected]:.4f} | {min(tests):.4f} |")


def fold_averaging(rows: dict, seeds: list[int], tuned: str | None) -> None:
    """Each blend's gain over the tuned config on CV, on test, and on test with one fold
    model per member (`@1`): the CV gain compares single models, as the @1 test gain does."""
    if not tuned:
        return
    print("\n| blend vs the tuned config | seeds | CV gain | test gain, all fold models | test gain, first fold model "
          "| expected test gain over the best member (no labels) |")
    print("|---|---|---|---|---|---|")
    for blend in blend_names():
        both = [s for s in seeds if all(f"{name}|{s}" in rows for name in (tuned, blend, f"{tuned}@1", f"{blend}@1"))]
        if not both:
            continue
        gains = [[rows[f"{tuned}{at}|{s}"][key] - rows[f"{blend}{at}|{s}"][key] for s in both]
                 for at, key in (("", "cv_logloss"), ("", "test_logloss"), ("@1", "test_logloss"))]
        expected = [rows[f"{blend}|{s}"].get("expected_test_gain") for s in both]
        cells = [f"{mean:+.4f} ± {std:.4f}" for mean, std in map(mean_std, gains + ([expected] if None not in expected else []))]
        print(f"| {blend} | {len(both)} | " + " | ".join(cells) + (" |" if None not in expected else " | |"))


def seed_noise_verdict(reference: tuple[float, float], other: tuple[float, float]) -> str:
    """How much `other` (mean, std over seeds) lowers a loss below `reference`, against
    their pooled seed spread: beyond the noise when the gain exceeds NOISE_FACTOR times it."""
    (base, base_std), (mean, std) = reference, other
    spread = math.sqrt((base_std**2 + std**2) / 2)
    gain = base - mean
    if math.isnan(spread):
        return f"gain {gain:+.4f}; one seed, no spread: no verdict"
    verdict = "beyond the noise" if gain > NOISE_FACTOR * spread else "within the noise"
    ratio = gain / spread if spread > 0 else math.inf
    return f"gain {gain:+.4f} = {ratio:.1f}x the pooled seed spread ({spread:.4f}): {verdict}"


def work_in(root: Path) -> None:
    """Studies, runs and ensembles under `root`; the data folder stays where it is."""
    os.environ.setdefault("SKP_DATA_DIR", str(Path("data").resolve()))
    os.chdir(root)
    for variable, folder in (("SKP_SAVE_DIR", "experiments"), ("SKP_STUDIES_DIR", "studies"), ("SKP_ENSEMBLES_DIR", "ensembles")):
        os.environ[variable] = str(root / folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="working directory of the benchmark: runs, studies, ensembles, results.json")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--sampler-seed", type=int, default=0)
    parser.add_argument("--seeds", default="42,43,44")
    parser.add_argument("--top", type=int, choices=(3, 5), default=TOP, help="train the top 3 (blends of 3) or top 5 trials")
    parser.add_argument("--report", action="store_true", help="print the tables from results.json, train nothing")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    results_file = root / "results.json"
    if args.report:
        if not results_file.is_file():
            sys.exit(f"No results under {root} yet: the study and the seed runs come first (run without --report).")
        report(json.loads(results_file.read_text()), seeds, root)
        return
    work_in(root)
    train("baseline", [], seeds[0])  # first, so that its seconds are timed on an idle machine
    run_study(args.trials, args.sampler_seed)
    report(measure(root, seeds, results_file, args.top), seeds, root)


if __name__ == "__main__":
    main()
