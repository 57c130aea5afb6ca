"""skp-ensemble: blend runs and study trials into a submission.

    skp-ensemble digits.ens_baseline                     # a recipe in ensembles/digits/
    skp-ensemble digits.ens_baseline --blend stacker     # re-blend from cached predictions
    skp-ensemble --run digits.cfg_baseline --study digits.cfg_baseline:3 --folds 0 --output out/
"""

from __future__ import annotations

import argparse
import sys

from skp.errors import SkpError, exit_status


def build_parser() -> argparse.ArgumentParser:
    from skp.ensemble.blend import BLENDS
    from skp.ensemble.recipe import TEACHERS, WEIGHTS

    parser = argparse.ArgumentParser(
        prog="skp-ensemble",
        description="Blend fold checkpoints of skp runs, study trials and prediction files into "
        "submission.csv. Flags override the recipe's fields, or replace the recipe.",
        allow_abbrev=False,
    )
    parser.add_argument("recipe", nargs="?", help="project.ens_name (ensembles/<project>/<ens_name>.py) or a recipe file's path")
    members = parser.add_argument_group("members (added to the recipe's)")
    members.add_argument("--run", action="append", default=[], metavar="CONFIG[:RUN_ID]", help="an skp-train run")
    members.add_argument("--run-dir", action="append", default=[], metavar="PATH", help="a run directory")
    members.add_argument("--study", action="append", default=[], metavar="NAME[:TOP_K][+baseline][+seeds]", help="best trials of a study (top 5); +baseline: its baseline trial; +seeds: the trials' seed copies (skp-tune --promote-seeds)")
    members.add_argument("--storage", help="storage URL of the --study studies (default: studies/<name>/journal.log)")
    members.add_argument("--files", action="append", default=[], metavar="NAME=OOF,TEST", help="prediction files")
    options = parser.add_argument_group("options (override the recipe)")
    options.add_argument("--folds", help="comma-separated folds to blend (default: all)")
    options.add_argument("--tta", help="comma-separated TTA views, e.g. hflip,vflip; 'none' for none")
    options.add_argument("--blend", choices=list(BLENDS))
    options.add_argument("--metric", help="metric value to fit and report (default: the members' val_metric)")
    options.add_argument("--direction", choices=("max", "min"))
    options.add_argument("--weights", choices=WEIGHTS, help="which weights of best.pt to predict with")
    options.add_argument("--soup", action="store_true", default=None, help="average each member's fold weights into one model")
    options.add_argument("--sample-submission", help="sample_submission.csv to match")
    options.add_argument("--test-file", help="annotations CSV of the test images")
    options.add_argument("--batch-size", type=int)
    options.add_argument("--budget", type=float, metavar="SECONDS", help="inference seconds on this test set: predict with the members, TTA views and fold checkpoints that fit it best")
    options.add_argument("--checkpoints", type=int, metavar="C", help="predict the test set with each member's first C fold checkpoints (default: all)")
    options.add_argument("--output", help="output folder (default: beside the recipe)")
    distil = parser.add_argument_group("distillation (a student trained against the blend)")
    distil.add_argument("--distil", metavar="CONFIG", help="train CONFIG on every fold against the blend's predictions")
    distil.add_argument("--distil-teacher", choices=TEACHERS, help="folds (default: honest CV) or oof (no extra inference; optimistic CV)")
    distil.add_argument("--distil-temperature", type=float, help="softens the blend's probabilities (default 2)")
    distil.add_argument("--distil-weight", type=float, help="share of the loss on the blend's predictions (default 0.5)")
    distil.add_argument("--distil-pseudo-labels", action="store_true", default=None, help="add the test images, labelled by the teacher")
    parser.add_argument("--no-cache", action="store_true", help="predict again instead of reading cached predictions")
    parser.add_argument("--remeasure-costs", action="store_true", help="time the cached test predictions again (10 batches per model and view) "
                        "and keep the new inference costs: for costs measured on a busy machine or another device")
    parser.add_argument("--list", action="store_true", help="list the recipes and exit")
    return parser


def _split(text: str, what: str) -> tuple[str, str | None]:
    head, _, tail = text.partition(":")
    if not head:
        raise SkpError(f"{what} {text!r} needs a name before ':'.")
    return head, tail or None


def recipe_from_args(args):
    from skp.ensemble.recipe import Files, Recipe, Run, Study, load_recipe

    recipe = load_recipe(args.recipe) if args.recipe else Recipe(name="ensemble")
    for text in args.run:
        config, run_id = _split(text, "--run")
        recipe.members.append(Run(config, run_id))
    recipe.members += [Run(path=path) for path in args.run_dir]
    for text in args.study:
        name, tail = _split(text, "--study")
        name, *named = name.split("+")  # NAME+baseline: the default number of trials
        top_k, *extras = (tail or "").split("+")
        extras += named
        if (top_k and not top_k.isdigit()) or not set(extras) <= {"baseline", "seeds"} or len(set(extras)) < len(extras):
            raise SkpError(
                f"--study {text!r}: the part after ':' is the number of trials, optionally with the study's "
                f"baseline trial and the trials' seed copies: {name}:5, {name}:5+baseline, {name}:5+seeds or {name}:5+baseline+seeds."
            )
        recipe.members.append(Study(name, int(top_k or 5), args.storage, baseline="baseline" in extras, seeds="seeds" in extras))
    for text in args.files:
        name, _, paths = text.partition("=")
        oof, _, test = paths.partition(",")
        if not (name and oof and test):
            raise SkpError(f"--files {text!r} must read NAME=OOF_FILE,TEST_FILE.")
        recipe.members.append(Files(name, oof, test))
    if args.folds:
        try:
            recipe.folds = [int(f) for f in args.folds.split(",")]
        except ValueError:
            raise SkpError(f"--folds takes comma-separated integers, got {args.folds!r}.") from None
    if args.tta:
        recipe.tta = [] if args.tta == "none" else args.tta.split(",")
    for field in ("blend", "metric", "direction", "weights", "soup", "sample_submission", "test_file", "batch_size", "budget", "checkpoints", "output"):
        value = getattr(args, field)
        if value is not None:
            setattr(recipe, field, value)
    apply_distil_flags(recipe, args)
    if not args.recipe and recipe.output is None:
        raise SkpError("Without a recipe, say where the results go: --output FOLDER.")
    return recipe


def apply_distil_flags(recipe, args) -> None:
    from skp.ensemble.recipe import Distil

    if args.distil:
        recipe.distil = Distil(args.distil)
    settings = {"teacher": args.distil_teacher, "temperature": args.distil_temperature, "weight": args.distil_weight,
                "pseudo_labels": args.distil_pseudo_labels}
    given = {key: value for key, value in settings.items() if value is not None}
    if given and recipe.distil is None:
        raise SkpError(f"--distil-{next(iter(given)).replace('_', '-')} sets up a student: name its config with --distil CONFIG (or a recipe's distil=Distil(...)).")
    for key, value in given.items():
        setattr(recipe.distil, key, value)


def ensemble(args) -> int:
    from skp.ensemble.recipe import list_recipes

    if args.list:
        print("\n".join(list_recipes()) or "no recipes under ./ensembles ($SKP_ENSEMBLES_DIR)")
        return 0
    if not args.recipe and not (args.run or args.run_dir or args.study or args.files):
        raise SkpError("Name a recipe (e.g. digits.ens_baseline) or members (--run, --run-dir, --study, --files).")
    from skp.ensemble.output import reblend_from_snapshot
    from skp.ensemble.report import print_table

    recipe = recipe_from_args(args)
    # Nothing heavy is imported on the way to a blend from the snapshot.
    summary = None if args.no_cache or args.remeasure_costs or recipe.distil else reblend_from_snapshot(recipe)
    if summary is None:
        from skp.ensemble.pipeline import run_ensemble

        summary = run_ensemble(recipe, use_cache=not args.no_cache, remeasure_costs=args.remeasure_costs)
    if summary.get("task") == "segmentation":  # its report is printed as it is written
        cache = summary["cache"]
        print(f"skp-ensemble: wrote {recipe.output}/submission.csv (and weights.json, report.md); "
              f"test maps: {cache['hits']} from cache, {cache['misses']} computed.")
        return 0
    print_table(summary)
    if "snapshot" in summary:
        came_from = f"members' predictions from {summary['snapshot']} (their inputs are unchanged)"
    else:
        came_from = f"predictions: {summary['cache']['hits']} from cache, {summary['cache']['misses']} computed"
    print(
        f"skp-ensemble: wrote {summary['folder']}/submission.csv (and oof.csv, test_predictions.csv, "
        f"weights.json, report.md); {came_from}."
    )
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return exit_status("skp-ensemble", lambda: ensemble(args), "cached predictions are kept, run the same command again.")


if __name__ == "__main__":
    sys.exit(main())
