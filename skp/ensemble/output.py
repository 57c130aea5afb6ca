"""The blend and what skp-ensemble writes: submission, OOF and test predictions, weights.json, report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from skp.ensemble.blend import blend
from skp.ensemble.fold_pooling import expected_test_gain
from skp.ensemble.inputs import BlendInputs
from skp.ensemble.report import write_report
from skp.ensemble.submission import check_submission, default_submission, write_csv_atomically
from skp.files import write_text
from skp.provenance import provenance


def blend_and_write(recipe, inputs: BlendInputs, folder: Path, cfg=None, extra: dict | None = None, after=None) -> dict:
    """Fit the recipe's blend on the OOF rows, apply it to test, write every output into
    `folder`; returns the summary written to weights.json (with `extra` added, and what
    `after(summary)` returns once the submission is written). `cfg` (the members' config)
    is needed only for a metric without a NumPy twin."""
    scorer = inputs.scorer(cfg)
    result = blend(
        recipe.blend, inputs.oofs, inputs.tests, scorer, inputs.row_folds, inputs.problem, recipe.power, recipe.greedy_rounds,
        inputs.fold_tests,
    )
    sample = pd.read_csv(inputs.sample_file)
    to_submission = recipe.to_submission or (
        lambda ids, pred, sample: default_submission(ids, pred, sample, inputs.id_column, inputs.problem, recipe.class_names)
    )
    submission = check_submission(to_submission(inputs.test_ids, result.test, sample), sample, inputs.id_column)
    folder.mkdir(parents=True, exist_ok=True)
    write_csv_atomically(submission, folder / "submission.csv")
    write_predictions(folder / "oof.csv", inputs.id_column, inputs.ids, result.oof, inputs.row_folds)
    write_predictions(folder / "test_predictions.csv", inputs.id_column, inputs.test_ids, result.test)
    test_scorer = inputs.scorer(cfg, test=True) if inputs.test_targets is not None else None
    summary = {**make_summary(recipe, inputs, result, scorer, test_scorer), **(extra or {})}
    write_text(folder / "weights.json", json.dumps(summary, indent=2))
    write_report(folder, summary, inputs.names, inputs.oofs)
    if after is not None:  # long (a student's training): the blend's own outputs are complete first
        summary.update(after(summary))
        write_text(folder / "weights.json", json.dumps(summary, indent=2))
        write_report(folder, summary, inputs.names, inputs.oofs)
    summary["folder"] = str(folder)
    return summary


def reblend_from_snapshot(recipe) -> dict | None:
    """The blend from the output folder's snapshot of member predictions when it is still
    valid (see skp.ensemble.inputs) and its metric has a NumPy twin, else None."""
    from skp.ensemble.inputs import load_snapshot
    from skp.ensemble.recipe import check_recipe

    check_recipe(recipe)
    folder = Path(recipe.output)
    inputs = load_snapshot(folder, recipe)
    if inputs is None:
        return None
    try:
        inputs.scorer()
    except LookupError:
        return None
    return blend_and_write(recipe, inputs, folder, extra={"snapshot": str(folder / "blend_inputs.npz")})


def write_predictions(path: Path, id_column: str, ids, pred: np.ndarray, folds=None) -> None:
    frame = pd.DataFrame({id_column: ids})
    if folds is not None:
        frame["fold"] = folds
    for j in range(pred.shape[1]):
        frame[f"pred_{j}" if pred.shape[1] > 1 else "pred"] = pred[:, j]
    write_csv_atomically(frame, path)


def describe_method(result) -> str:
    """'greedy', or for auto what it chose: 'auto: geometric of the top 3' / 'auto: the best member alone'."""
    if result.choice is None:
        return result.method
    choice = result.choice
    if choice["method"] == "best member":
        return "auto: the best member alone"
    return f"auto: {choice['method']} of the top {choice['members']}"


def make_summary(recipe, inputs: BlendInputs, result, scorer, test_scorer) -> dict:
    rows = []
    for i, name in enumerate(inputs.names):
        rows.append({
            "name": name,
            "source": inputs.sources[i],
            "weight": None if result.weights is None else round(float(result.weights[i]), 4),
            "oof": scorer(inputs.oofs[i]),
            "test": test_scorer(inputs.tests[i]) if test_scorer else None,
            "cost": inputs.costs[i] if inputs.costs else None,  # inference seconds per image
            "provenance": inputs.provenance[i],
        })
    best = max(rows, key=lambda r: r["oof"] if scorer.direction == "max" else -r["oof"])
    blend_oof, blend_cv = scorer(result.oof), scorer(result.cv_oof)
    gain = blend_cv - best["oof"] if scorer.direction == "max" else best["oof"] - blend_cv
    on_test = expected_test_gain(result, inputs.fold_tests, rows.index(best), gain, (inputs.metric["class"], inputs.metric["name"]), inputs.problem)
    return {
        "recipe": recipe.name,
        "method": describe_method(result),
        "problem": inputs.problem,
        "metric": scorer.name,
        "direction": scorer.direction,
        "folds": [int(f) for f in inputs.folds],
        "test_images": len(inputs.test_ids),
        "tta": list(inputs.tta),
        "members": rows,
        "best_member": best["name"],
        "blend": {
            "oof": blend_oof,
            "oof_cross_validated": blend_cv,
            "test": test_scorer(result.test) if test_scorer else None,
            # measured on rows the weights were not fitted on, so the gain is not optimistic;
            # positive is better whatever the metric's direction
            "gain_over_best_member": gain,
            # the same gain expected on test, where the best member is a fold average too
            "expected_on_test": on_test,
        },
        "auto": result.choice,
        "budget": inputs.budget,
        # this blend's own: skp and library versions, host, the recipe file's commit
        "provenance": provenance([recipe.file] if recipe.file else [], device=inputs.device),
    }
