"""What people look at after a study: a table, the best parameters, plots, a tuned config."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from skp.configs import CONFIGS_DIR, config_label
from skp.configs.lookup import is_path
from skp.files import write_text
from skp.tune.baseline import baseline_trial, is_baseline
from skp.tune.confirm import seed_checks, trial_trainer_kwargs, verdict
from skp.tune.study import study_dir

PLOTS = {
    "optimization_history": "plot_optimization_history",
    "param_importances": "plot_param_importances",
    "parallel_coordinate": "plot_parallel_coordinate",
    "intermediate_values": "plot_intermediate_values",
}


def _duration(trial) -> str:
    return f"{trial.duration.total_seconds():.0f}" if trial.duration else ""


def print_table(study, top: int = 10) -> None:
    from optuna.trial import TrialState
    from rich.console import Console
    from rich.table import Table

    trials = study.get_trials(deepcopy=False)
    counts = {state.name.lower(): sum(t.state == state for t in trials) for state in TrialState}
    console = Console(width=None if sys.stdout.isatty() else 200)  # logs get the whole table
    console.print(f"study {study.study_name}: " + (", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no trials yet"))
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    if not done:
        return
    maximize = study.direction.name == "MAXIMIZE"
    done.sort(key=lambda t: t.value, reverse=maximize)
    params = sorted({k for t in done[:top] for k in t.params})
    shown = done[:top]
    baseline = baseline_trial(study)
    if baseline is not None and baseline not in shown:
        shown.append(baseline)  # the reference every gain is read against
    table = Table(title=f"top {min(top, len(done))} of {len(done)} complete trials")
    for column in ("trial", "value", "epoch kept", "seconds", *params):
        table.add_column(column, justify="right")
    for t in shown:
        values = [_format(t.params.get(k, "")) for k in params]
        label = f"{t.number} (baseline)" if is_baseline(t) else str(t.number)
        table.add_row(label, f"{t.value:.5g}", str(t.user_attrs.get("best_epoch", "")), _duration(t), *values)
    console.print(table)
    best = done[0]
    console.print(f"best trial {best.number}: value {best.value:.5g}, params {best.params}, run {best.user_attrs.get('run_dir')}")
    for group in repeated_params(trials):
        console.print(f"[yellow]trials {', '.join(map(str, group))} ran the same parameters[/yellow]")


def repeated_params(trials) -> list[list[int]]:
    """Groups of finished trials that trained the same parameters (retries of a failed
    trial do not count: the failed one never finished)."""
    from optuna.trial import TrialState

    groups = {}
    for t in trials:
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            groups.setdefault(tuple(sorted(t.params.items())), []).append(t.number)
    return [numbers for numbers in groups.values() if len(numbers) > 1]


def _format(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def print_seed_checks(study, checks) -> None:
    """The re-measured trials ranked by their mean over seeds, and the verdict."""
    from rich.console import Console
    from rich.table import Table

    if not checks:
        return
    console = Console(width=None if sys.stdout.isatty() else 200)
    table = Table(title="seed check: value on every seed, ranked by the mean")
    for column in ("rank", "trial", "values by seed", "mean", "std"):
        table.add_column(column, justify="right")
    for rank, check in enumerate(checks, 1):
        label = f"{check.number} (baseline)" if check.baseline else str(check.number)
        values = ", ".join(f"{seed}: {value:.5g}" for seed, value in check.values.items())
        table.add_row(str(rank), label, values, f"{check.mean:.5g}", f"{check.std:.2g}")
    console.print(table)
    console.print(verdict(checks, study.direction.name == "MAXIMIZE"))


def print_promotion(study) -> None:
    """The promoted trials beside their study value: cross-validated mean over folds and
    the value of their concatenated out-of-fold predictions."""
    from rich.console import Console
    from rich.table import Table

    from skp.tune.promote import cv_records, cv_verdict, promoted_numbers, promotion, race_summary

    record = promotion(study)
    if not record:
        return
    cv, trials = cv_records(study), study.get_trials(deepcopy=False)
    table = Table(title=f"promoted by {record['by']} to folds {','.join(map(str, record['folds']))}")
    columns = ["trial", "study value", "CV mean ± std", "CV out-of-fold", "fold values"]
    seeded = bool(record.get("seeds"))
    columns += ["mean over folds, by seed", "seeds averaged, out-of-fold"] if seeded else []
    for column in columns:
        table.add_column(column, justify="right")
    for number in promoted_numbers(record):
        trial, row = trials[number], cv.get(number)
        label = f"{number} (baseline)" if is_baseline(trial) else str(number)
        if row is None:
            table.add_row(label, f"{trial.value:.5g}", "folds missing: re-run --promote", *[""] * (len(columns) - 3))
            continue
        spread = f" ± {row['std']:.2g}" if row["std"] is not None else ""
        folds = ", ".join(f"{f}: {v:.4g}" for f, v in row["folds"].items())
        oof = "" if row["oof"] is None else f"{row['oof']:.5g}"
        cells = [label, f"{trial.value:.5g}", f"{row['mean']:.5g}{spread}", oof, folds]
        if seeded:
            by_seed = ", ".join(f"{s}: {v:.4g}" for s, v in row.get("seeds", {}).items())
            averaged = "" if row.get("seeds_oof") is None else f"{row['seeds_oof']:.5g}"
            cells += [by_seed, averaged]
        table.add_row(*cells)
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(table)
    for line in race_summary(study):
        console.print(f"race: {line}")
    verdict = cv_verdict(study)
    if verdict:
        console.print(verdict)


def plot_seed_checks(checks, metric: str, path: Path) -> None:
    """Each checked trial's values by seed with their mean and one std, best mean on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.5 * len(checks) + 1.5))
    for row, check in enumerate(reversed(checks)):
        color = "tab:gray" if check.baseline else "tab:blue"
        ax.scatter(list(check.values.values()), [row] * len(check.values), color=color, alpha=0.6, s=18)
        ax.errorbar(check.mean, row, xerr=0 if len(check.values) < 2 else check.std, fmt="D", color=color, capsize=4)
    ax.set_yticks(range(len(checks)))
    ax.set_yticklabels([f"trial {c.number}" + (" (baseline)" if c.baseline else "") for c in reversed(checks)])
    ax.set_xlabel(f"{metric} (dots: seeds; diamond: mean ± std)")
    ax.set_title("seed check")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_plots(study, folder: Path) -> dict[str, str]:
    """HTML plots under folder; returns {plot: file or the reason it was skipped}."""
    import optuna.visualization as vis

    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, function in PLOTS.items():
        try:
            figure = getattr(vis, function)(study)
            path = folder / f"{name}.html"
            # plotly.js is written once beside the plots, so they open offline.
            figure.write_html(str(path), include_plotlyjs="directory")
            written[name] = str(path)
        except (ImportError, ValueError, RuntimeError, ZeroDivisionError) as err:
            written[name] = f"skipped: {err}"
    return written


def tuned_config_name(cfg, study_name: str) -> str:
    """<cfg>_tuned.py, or <cfg>_tuned_<study>.py for a study not named after the config."""
    stem = Path(cfg.config_file).stem + "_tuned"
    if study_name != config_label(cfg.config_name):
        stem += "_" + re.sub(r"\W", "_", study_name)
    return stem + ".py"


def beside_base_config(cfg) -> bool:
    """Whether the tuned config may go beside the base config: a folder the user can
    write that no package manager owns (skp's own examples and site-packages are not
    the user's: an upgrade deletes them and an editable checkout is skp's source)."""
    folder = Path(cfg.config_file).resolve().parent
    installed = folder.is_relative_to(CONFIGS_DIR) or {"site-packages", "dist-packages"} & set(folder.parts)
    return not installed and os.access(folder, os.W_OK)


def _tuned_config_text(study, best, cfg, why: str, base: str, command: str) -> str:
    settings = best.user_attrs.get("overrides") or list(best.params.items())
    lines = "".join(f"        ({key!r}, {value!r}),\n" for key, value in settings)
    role = " (the baseline: the config's own settings)" if is_baseline(best) else ""
    flags = _trainer_flags(best)
    flags = f"\nThe study's Trainer flags are not config settings; pass them again if wanted: {flags}.\n" if flags else ""
    head = "from pathlib import Path\n\n" if "Path(" in base else ""
    return (
        f'"""Generated by skp-tune: trial {best.number}{role} of study {study.study_name!r},\n'
        f"{why}. Its settings: the study's overrides, then the searched parameters.\n{flags}\n"
        f"    skp-train {command} --kfold 0,1,2,3,4\n"
        f'"""\n\n'
        f"{head}from skp.configs import load_config\n\n"
        f"cfg = load_config(\n    {base},\n    [\n{lines}    ],\n)\n"
    )


def _trainer_flags(trial) -> str:
    flags = trial_trainer_kwargs(trial)
    return " ".join(f"--{k} {v}" for k, v in flags.items() if k != "num_sanity_val_steps")


def export_best_config(study, cfg, checks=()) -> Path | None:
    """<cfg>_tuned.py beside the base config where that is the user's folder, and always
    in the study's folder: the base config with every setting the best trial ran with
    (the study's CLI overrides, then its parameters); returns the first. The best is the
    promoted trial with the best mean over folds when trials were promoted, else the
    trial with the best mean over seeds when they were checked, else the best value."""
    from optuna.trial import TrialState

    from skp.tune.promote import best_by_cv, cv_records

    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        return None
    by_cv = best_by_cv(study)
    if by_cv is not None:
        best = study.trials[by_cv]
        row = cv_records(study)[best.number]
        why = f"best mean {cfg.val_metric} over folds {','.join(row['folds'])} of the promoted trials, {row['mean']:.6g}"
    elif checks:
        best = study.trials[checks[0].number]
        why = f"best mean {cfg.val_metric} over {len(checks[0].values)} seeds, {checks[0].mean:.6g} ± {checks[0].std:.2g}"
    else:
        best = study.best_trial
        why = f"best {cfg.val_metric}, {best.value:.6g}"
    file_name = tuned_config_name(cfg, study.study_name)
    copy = study_dir(study.study_name) / file_name
    copy.parent.mkdir(parents=True, exist_ok=True)
    write_text(copy, _tuned_config_text(study, best, cfg, why, repr(cfg.config_name), str(copy)))
    if not beside_base_config(cfg):
        return copy
    beside = Path(cfg.config_file).with_name(file_name)
    if is_path(cfg.config_name):
        base, command = f"str(Path(__file__).with_name({Path(cfg.config_file).name!r}))", str(beside)
    else:
        base, command = repr(cfg.config_name), f"{cfg.project}.{beside.stem}"
    write_text(beside, _tuned_config_text(study, best, cfg, why, base, command))
    return beside


def report(study, cfg, export: bool = True) -> dict:
    """Table on the terminal, plots and (with `export`) the tuned config on disk; returns where they went."""
    print_table(study)
    if not study.get_trials(deepcopy=False):
        return {"plots": {}, "config": None}
    checks = seed_checks(study, cfg)
    print_seed_checks(study, checks)
    print_promotion(study)
    folder = study_dir(study.study_name)
    plots = write_plots(study, folder)
    if checks:
        plot_seed_checks(checks, cfg.val_metric, folder / "seed_check.png")
        plots["seed_check"] = str(folder / "seed_check.png")
    exported = export_best_config(study, cfg, checks) if export else None
    for name, where in plots.items():
        print(f"  {name}: {where}")
    if exported:
        also = "" if exported.parent == folder else f" (a copy in {folder})"
        print(f"  best config: {exported}{also}")
    return {"plots": plots, "config": exported}
