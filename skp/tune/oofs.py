"""Out-of-fold predictions of a study's trials, from their run directories: what promotion
by ensemble, the cross-validated out-of-fold value and fold racing compare."""

from __future__ import annotations

from pathlib import Path


def trial_oofs(trials, folds: list[int]):
    """Each trial's out-of-fold predictions on `folds`, a Scorer of the config's val_metric
    for them (the ensemble's own, so a choice is judged as the blend will be), and the
    rows' Reference (ids, targets, folds)."""
    return run_oofs({f"trial {t.number}": Path(t.user_attrs["run_dir"]) for t in trials}, folds)


def run_oofs(runs: dict[str, Path], folds: list[int]):
    """trial_oofs for run directories ({name: directory}): a trial's seed copies too."""
    from skp.oof.members import build_reference, load_oof, member_from_run_dir
    from skp.oof.scoring import make_scorer, problem_of

    members = [member_from_run_dir(directory, name, "") for name, directory in runs.items()]
    reference = build_reference(members, folds)
    oofs = [load_oof(m, reference) for m in members]
    cfg = reference.cfg
    return oofs, make_scorer(cfg, problem_of(cfg, oofs[0].shape[1]), None, None, oofs[0], reference.targets), reference
