"""skp-ensemble: blend fold checkpoints, study trials and prediction files into a submission.

A recipe is a Python file `ensembles/<project>/ens_*.py` that defines `recipe`:

    from skp.ensemble import Distil, Files, Recipe, Run, Study

    recipe = Recipe(
        members=[
            Run("digits.cfg_baseline"),                    # the plain skp-train run
            Run("digits.cfg_regnet", run_id="run-1a2b3c4d"),
            Study("digits.cfg_baseline", top_k=3),         # best finished trials
            Files("lgbm", oof="lgbm_oof.csv", test="lgbm_test.csv"),
        ],
        folds=None,           # every fold of the training annotations
        tta=["hflip"],        # views averaged with the plain one
        blend="auto",         # the default; or mean, greedy, simplex, rank, geometric, power, stacker
        distil=Distil("digits.cfg_baseline"),  # then a student trained against the blend
    )

Each member gives OOF predictions (its runs' oof.csv files, in annotation order) and
test predictions (the mean over its fold checkpoints, computed once and cached by
checkpoint content, data, TTA view and config). Weights are fitted on OOF only. The
outputs (submission.csv in sample_submission's exact shape, oof.csv, test_predictions.csv,
weights.json, report.md, report.png) go to a folder beside the recipe.
"""

from skp.ensemble.recipe import Distil, Files, Recipe, Run, Study

__all__ = ["Distil", "Files", "Recipe", "Run", "Study"]
