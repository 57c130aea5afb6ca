"""One line per finished trial: what it scored, the best so far, where the study stands.

Each worker prints the lines of its own trials as whole lines (see
supervisor.write_whole_lines), so a study with many workers still reads as one list.
"""

from __future__ import annotations

import statistics
import time

from skp.tune.baseline import is_baseline


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def best_trial(trials, direction: str):
    done = [t for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    if not done:
        return None
    return (max if direction == "max" else min)(done, key=lambda t: t.value)


def remaining_seconds(trials, total: int, workers: int) -> float | None:
    """The trials still to run, at the median duration of the finished ones, over the workers."""
    durations = [t.duration.total_seconds() for t in trials if t.state.name in ("COMPLETE", "PRUNED") and t.duration]
    if not durations:
        return None
    finished = len(durations)
    running = sum(t.state.name == "RUNNING" for t in trials)
    left = max(0, total - finished - running) + running / 2  # a running trial is about half done
    return statistics.median(durations) * left / max(1, workers)


def trial_line(study, trial, total: int, started: float, metric: str) -> str:
    """'trial 3 complete  logloss 0.2811  best 0.2811 (trial 3)  96 s  num_epochs=20 ...  4/20 finished ...'."""
    trials = study.get_trials(deepcopy=False)
    direction = "max" if study.direction.name == "MAXIMIZE" else "min"
    name = f"trial {trial.number}" + (" (baseline)" if is_baseline(trial) else "")
    if trial.state.name == "COMPLETE":
        outcome = f"{metric} {trial.value:.4f}"
    elif trial.state.name == "PRUNED":
        last, rungs = trial.last_step, trial.user_attrs.get("rungs")
        if rungs:  # --pruner rungs: steps are the lengths of complete schedules
            outcome = f"pruned after the {last}-epoch rung ({metric} {rungs[str(last)]:.4f})"
        else:
            outcome = f"pruned at epoch {last + 1}" if last is not None else "pruned"
    else:
        outcome = trial.user_attrs.get("fail_reason", "see the log above")
    best = best_trial(trials, direction)
    best_text = f"best {best.value:.4f} (trial {best.number})" if best is not None else "no complete trial yet"
    seconds = f"{trial.duration.total_seconds():.0f} s" if trial.duration else ""
    params = " ".join(f"{k}={_number(v)}" for k, v in sorted(trial.params.items()))
    finished = sum(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    running = sum(t.state.name == "RUNNING" for t in trials)
    left = remaining_seconds(trials, total, running + 1)
    where = f"{finished}/{total} finished, {running} running, {_duration(time.time() - started)} elapsed"
    if left is not None and finished < total:
        where += f", about {_duration(left)} left"
    parts = [f"skp-tune: {name} {trial.state.name.lower()}", outcome, best_text, seconds, params, where]
    return "  ".join(p for p in parts if p)
