"""Submissions under an inference budget, and a distilled student, over training seeds.

For each training seed: the members are trained on five folds (the tuned config first),
then skp-ensemble's own pipeline scores
- the tuned config alone (its five fold checkpoints; the "one model" to beat),
- the full blend (auto), which also trains the student: the tuned config again, distilled
  from that blend on every fold (Recipe(distil=Distil(...)), teacher="folds"),
- the blend under budgets of 1/3 and 2/3 of the full blend's inference seconds,
- the student alone,
- the tuned config and the student with their first fold model only (`@1`, skp-ensemble's
  `checkpoints=1`): CV scores one model per row, so these show on test what a single
  model gained, before the five fold models' averaging, which the tuned config has too;
- with --pseudo-labels, also a second student (`student-pl`, `student-pl@1`) trained on
  the test images too, labelled by the blend (Distil(pseudo_labels=True): each fold's
  student learns the test images from that fold's teacher models), and scored likewise.
CV is the OOF score (a blend's: cross-validated); test is scored against solution.csv,
which nothing was fitted or chosen on. Inference is in seconds per 1000 test images, as
measured by skp-ensemble on this machine.

Every step resumes: finished folds are skipped, predictions come from the cache, rows
already scored are read from results.json.

    python tests/benchmarks/bench_distil.py --root bench-distil [--seeds 42,43,44] [--temperature 2 --weight 0.5] [--pseudo-labels]
    python tests/benchmarks/bench_distil.py --root bench-distil --report

On fashion the members are bench_fashion_loop.py's top 3 trials, the tuned config first,
and its baseline, and their runs are the loop's own: give its --root, from the directory it ran in.

    python tests/benchmarks/bench_distil.py --project fashion --root bench-fashion

Processes given different --seeds may run side by side on one root (one thread each).
"""

import argparse
import json
import math
import sys
from pathlib import Path

from bench_fashion_loop import mean_std, seed_noise_verdict, work_in, written_scores  # this folder: run as a script
from bench_fashion_loop import save as save_results

FOLDS = "0,1,2,3,4"
RESULTS = "distil.json"  # beside the fashion loop's results.json when they share a root
# label -> (config, overrides); the first is the tuned config the student copies
DIGITS = {
    "tuned": ("digits.cfg_baseline", ["--num_epochs", "30"]),  # the study's finding: training length
    "regnet": ("digits.cfg_regnet", []),
    "convnext": ("digits.cfg_convnext", []),
}


def fashion_members(root: Path) -> dict:
    """bench_fashion_loop.py's top 3 trials, its tuned config first, and the baseline, as
    that loop trains them: the top 3 are near-copies, and the baseline is what their blend
    gained from on test (`Study(..., baseline=True)`)."""
    from bench_fashion_loop import CONFIG, tokens

    loop = root / "results.json"
    if not loop.is_file():
        sys.exit(f"No {loop}: run bench_fashion_loop.py --root {root} first; its top trials are the members.")
    results = json.loads(loop.read_text())
    top = results["top"][:3]
    tuned = results.get("tuned", top[0]["label"])
    members = {m["label"]: (CONFIG, tokens(m["overrides"])) for m in sorted(top, key=lambda m: m["label"] != tuned)}
    return {**members, "baseline": (CONFIG, [])}


def project_members(project: str, root: Path) -> dict:
    return DIGITS if project == "digits" else fashion_members(root)
BUDGETS = (1 / 3, 2 / 3)
METRICS = ("cv_logloss", "cv_accuracy", "test_logloss", "test_accuracy", "per_1000")


def train(config: str, overrides: list[str], label: str, seed: int) -> Path:
    from skp.training.folds import train_folds

    results = train_folds(config, [*overrides, "--seed", str(seed)], kfold=FOLDS, run_id=f"bench-{label}-seed{seed}",
                          trainer_kwargs={"enable_progress_bar": False})
    return Path(results[0]["fold_dir"]).parent


def scored(summary: dict, output: Path, config: str) -> dict:
    """CV and test log loss and accuracy of the blend skp-ensemble wrote, and its inference cost."""
    if summary.get("budget"):
        seconds = summary["budget"]["chosen"]["seconds"]
    else:  # the members the blend kept (auto may keep fewer than it was given)
        kept = [m for m in summary["members"] if m["weight"] is None or m["weight"] > 0]
        seconds = sum(m["cost"]["seconds_per_image"] for m in kept) * summary["test_images"]
    return {
        **written_scores(summary, output, config),
        "per_1000": 1000 * seconds / summary["test_images"],
        "test_images": summary["test_images"],
    }


def ensemble(root: Path, name: str, runs: list[Path], config: str, **options) -> tuple[dict, dict]:
    from skp.ensemble import Recipe, Run
    from skp.ensemble.pipeline import run_ensemble

    output = root / "bench-ensembles" / name
    summary = run_ensemble(Recipe(members=[Run(path=str(r)) for r in runs], output=str(output), name=name, **options))
    return scored(summary, output, config), summary


def measure(root: Path, project: str, seeds: list[int], temperature: float, weight: float, results_file: Path,
            pseudo_labels: bool = False) -> dict:
    from skp.ensemble import Distil

    results = json.loads(results_file.read_text()) if results_file.exists() else {"rows": {}}
    results["settings"] = {"project": project, "temperature": temperature, "weight": weight}
    rows = results["rows"]

    def save():  # rows another process (other --seeds) wrote meanwhile are kept
        save_results(results, results_file)

    members = project_members(project, root)
    tuned_label = next(iter(members))
    tuned_config, tuned_overrides = members[tuned_label]
    results["settings"]["members"] = list(members)
    for seed in seeds:
        runs = {label: train(config, overrides, label, seed) for label, (config, overrides) in members.items()}
        if f"tuned|{seed}" not in rows:
            rows[f"tuned|{seed}"], _ = ensemble(root, f"tuned-seed{seed}", [runs[tuned_label]], tuned_config, blend="mean")
            save()
        if f"blend|{seed}" not in rows:
            student = Distil(tuned_config, overrides=[*tuned_overrides, "--seed", str(seed)], temperature=temperature, weight=weight)
            rows[f"blend|{seed}"], summary = ensemble(root, f"blend-seed{seed}", list(runs.values()), tuned_config, distil=student)
            rows[f"blend|{seed}"]["student_run"] = summary["distil"]["student"]["run_dir"]
            save()
        if pseudo_labels and f"blend-pl|{seed}" not in rows:  # the same blend, teaching a student the test images too
            student = Distil(tuned_config, overrides=[*tuned_overrides, "--seed", str(seed)], temperature=temperature, weight=weight,
                             pseudo_labels=True)
            rows[f"blend-pl|{seed}"], summary = ensemble(root, f"blend-pl-seed{seed}", list(runs.values()), tuned_config, distil=student)
            rows[f"blend-pl|{seed}"]["student_run"] = summary["distil"]["student"]["run_dir"]
            save()
        singles = {"tuned@1": runs[tuned_label]}
        for variant in ("", "-pl") if pseudo_labels else ("",):
            student_run = Path(rows[f"blend{variant}|{seed}"]["student_run"])
            if f"student{variant}|{seed}" not in rows:
                rows[f"student{variant}|{seed}"], _ = ensemble(root, f"student{variant}-seed{seed}", [student_run], tuned_config, blend="mean")
                save()
            singles[f"student{variant}@1"] = student_run
        for name, run in singles.items():
            if f"{name}|{seed}" not in rows:  # one fold model: what a single model learned, before fold averaging
                rows[f"{name}|{seed}"], _ = ensemble(root, f"{name}-seed{seed}", [run], tuned_config, blend="mean", checkpoints=1)
                save()
        full = rows[f"blend|{seed}"]
        for fraction in BUDGETS:
            key = f"budget {fraction:.2f}|{seed}"
            if key not in rows:
                budget = fraction * full["per_1000"] / 1000 * full["test_images"]
                rows[key], _ = ensemble(root, f"budget{fraction:.2f}-seed{seed}", list(runs.values()), tuned_config, budget=budget)
                save()
    return results


def report(results: dict, seeds: list[int]) -> None:
    rows = results["rows"]
    settings = results.get("settings", {})
    members = f" ({', '.join(settings['members'])})" if settings.get("members") else ""
    print(f"\n{settings.get('project')}{members}: student at temperature "
          f"{settings.get('temperature')}, weight {settings.get('weight')}")
    print("\n| entry | seed | CV log loss | test log loss | inference s / 1000 images | blend |")
    print("|---|---|---|---|---|---|")
    for key, row in rows.items():
        name, seed = key.split("|")
        if int(seed) in seeds:
            print(f"| {name} | {seed} | {row['cv_logloss']:.4f} | {row['test_logloss']:.4f} | {row['per_1000']:.2f} | {row['method']} |")
    print("\n| entry | seeds | CV log loss | CV accuracy | test log loss | test accuracy | inference s / 1000 images |")
    print("|---|---|---|---|---|---|---|")
    entries = ["tuned", "blend", *(f"budget {f:.2f}" for f in BUDGETS), "student", "student-pl", "tuned@1", "student@1", "student-pl@1"]
    stats = {}
    for name in entries:
        mine = [rows[f"{name}|{s}"] for s in seeds if f"{name}|{s}" in rows]
        if not mine:
            continue
        stats[name] = {key: mean_std([r[key] for r in mine]) for key in METRICS}
        print(f"| {name} | {len(mine)} | " + " | ".join(f"{stats[name][k][0]:.4f} ± {stats[name][k][1]:.4f}" for k in METRICS) + " |")
    for name in entries[1:]:
        methods = sorted({rows[key]["method"] for key in rows if key.startswith(f"{name}|")})
        if methods:
            print(f"{name}: {'; '.join(methods)}")
    for student in ("student", "student-pl"):
        if {"tuned", student, "blend"} <= set(stats):
            for key in ("cv_logloss", "test_logloss"):
                tuned, mine, blend = (stats[n][key][0] for n in ("tuned", student, "blend"))
                closed = (tuned - mine) / (tuned - blend) if tuned > blend else math.nan
                print(f"{student} vs tuned, {key}: {seed_noise_verdict(stats['tuned'][key], stats[student][key])}; "
                      f"it closes {100 * closed:.0f}% of the gap to the blend ({tuned - blend:+.4f})")
        if {"tuned@1", f"{student}@1", "blend"} <= set(stats):
            tuned, mine, blend = (stats[n]["test_logloss"][0] for n in ("tuned@1", f"{student}@1", "blend"))
            print(f"{student} vs tuned, one fold model each, test_logloss: "
                  f"{seed_noise_verdict(stats['tuned@1']['test_logloss'], stats[f'{student}@1']['test_logloss'])}; "
                  f"it closes {100 * (tuned - mine) / (tuned - blend):.0f}% of the gap to the blend ({tuned - blend:+.4f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="working directory: runs, ensembles, results.json")
    parser.add_argument("--project", choices=("digits", "fashion"), default="digits")
    parser.add_argument("--seeds", default="42,43,44")
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--weight", type=float, default=0.5)
    parser.add_argument("--pseudo-labels", action="store_true", help="also a student trained on the test images labelled by the blend")
    parser.add_argument("--report", action="store_true", help="print the table from results.json, train nothing")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    results_file = root / RESULTS
    if args.report:
        if not results_file.is_file():
            sys.exit(f"No results under {root} yet (run without --report first).")
        report(json.loads(results_file.read_text()), seeds)
        return
    work_in(root)
    report(measure(root, args.project, seeds, args.temperature, args.weight, results_file, args.pseudo_labels), seeds)


if __name__ == "__main__":
    main()
