"""Fold racing in promotion: start more candidates than are kept, stop the ones already losing.

    skp-tune CFG --promote 3 --race 8

The 8 best trials start; their folds train round by round (every candidate's next fold,
then the decision, then the round after). After each round a candidate stops when at
least K = 3 others beat it beyond the noise on the folds trained so far: each of them
has the better mean on every one of those folds, and a one-sided Wilcoxon signed-rank
test of their paired per-row values (log loss, accuracy, absolute or squared error of
each validation row; Optuna's WilcoxonPruner compares per-instance values the same way)
gives p below ALPHA on all their rows together.

- Only folds the promotion trained count, and at least MIN_ROUNDS of them: the search
  chose the candidates on their search folds, so those rows flatter the leader; and the
  per-row test sees the rows' noise, not the fold-to-fold noise of training, which the
  every-fold condition guards against.
- No decision follows the last round: nothing is left to save.
- The rounds make the decisions the same however many workers train and whenever one
  is killed: a decision reads whole rounds only.
- The baseline (the reference) never stops; the survivors are the promoted trials.

A metric that is not a mean over rows (AUC) cannot be raced.
"""

from __future__ import annotations

import numpy as np

from skp.errors import SkpError

ALPHA = 0.01
MIN_ROUNDS = 2


def race_record(keep: int) -> dict:
    return {"keep": keep, "alpha": ALPHA, "stopped": {}, "decided": []}


def stopped(record: dict) -> set[int]:
    return {int(n) for n in (record.get("race") or {}).get("stopped", {})}


def check_raceable(study, trials, folds: list[int]) -> None:
    """The metric must be a mean over rows; refused before anything trains."""
    from skp.oof.fast_metrics import ROW_TWINS
    from skp.tune.confirm import trial_folds
    from skp.tune.oofs import trial_oofs

    _, scorer, _ = trial_oofs([trials[0]], trial_folds(trials[0]))
    if (scorer.metric, scorer.name) not in ROW_TWINS:
        names = ", ".join(name for _, name in ROW_TWINS)
        raise SkpError(
            f"--race compares trials row by row, and {scorer.name} ({scorer.metric}) is not a mean over rows. "
            f"Race on a config whose val_metric is one of {names}, or promote without --race."
        )


def _row_values(trials, folds: list[int]):
    """(per-row values of each trial on the rows of `folds`, oriented so that lower is
    better; each row's fold)."""
    from skp.oof.fast_metrics import ROW_TWINS
    from skp.tune.oofs import trial_oofs

    oofs, scorer, reference = trial_oofs(trials, folds)
    rows = ROW_TWINS[(scorer.metric, scorer.name)]
    sign = -1.0 if scorer.direction == "max" else 1.0
    return [sign * rows(oof, scorer.targets, scorer.problem) for oof in oofs], reference.row_folds


def _p_worse(mine: np.ndarray, theirs: np.ndarray) -> float:
    """p of "mine is no worse than theirs" against "worse" (lower is better)."""
    from scipy.stats import wilcoxon

    differences = mine - theirs
    if not np.any(differences):
        return 1.0
    return float(wilcoxon(differences, alternative="greater", zero_method="zsplit").pvalue)


def _beats(theirs: np.ndarray, mine: np.ndarray, row_folds: np.ndarray, alpha: float) -> float | None:
    """p of the test when `theirs` beats `mine` on every fold's mean and beyond the noise, else None."""
    if any(theirs[row_folds == f].mean() >= mine[row_folds == f].mean() for f in np.unique(row_folds)):
        return None
    p = _p_worse(mine, theirs)
    return p if p < alpha else None


def decide(study, record: dict, decided_folds: list[int], search_folds: set[int]) -> dict:
    """The candidates to stop after the rounds of `decided_folds`: {trial: (p, behind)}."""
    counted = [f for f in decided_folds if f not in search_folds]
    race = record["race"]
    out = stopped(record)
    live = [n for n in record["trials"] if n not in out and n != record.get("baseline")]
    if len(counted) < MIN_ROUNDS or decided_folds == record["folds"] or len(live) <= race["keep"]:
        return {}
    trials = study.get_trials(deepcopy=False)
    values, row_folds = _row_values([trials[n] for n in live], counted)
    return losers(dict(zip(live, values)), row_folds, race["keep"], race["alpha"])


def losers(values: dict[int, np.ndarray], row_folds: np.ndarray, keep: int, alpha: float) -> dict:
    """Of the live candidates' per-row values (lower is better) on the folds counted, the
    ones at least `keep` others beat: {number: (p, behind)}, never so many that fewer than
    `keep` remain (the best-ranked losers stay)."""
    out = {}
    for number in values:
        beaten_by = {other: _beats(values[other], values[number], row_folds, alpha) for other in values if other != number}
        behind = sorted(other for other, p in beaten_by.items() if p is not None)
        if len(behind) >= keep:
            out[number] = (max(beaten_by[o] for o in behind), behind)
    room = len(values) - keep
    if len(out) > room:
        order = sorted(out, key=lambda n: (-len(out[n][1]), n))
        out = {n: out[n] for n in order[:room]}
    return out
