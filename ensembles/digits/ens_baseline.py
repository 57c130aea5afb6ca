"""Three digits architectures, five folds each, blended by greedy forward selection.

    skp-train digits.cfg_baseline --kfold 0,1,2,3,4
    skp-train digits.cfg_regnet --kfold 0,1,2,3,4
    skp-train digits.cfg_convnext --kfold 0,1,2,3,4
    skp-ensemble digits.ens_baseline                    # -> ensembles/digits/ens_baseline/
    skp-ensemble digits.ens_baseline --blend stacker    # re-blend from cached predictions
"""

from skp.ensemble import Recipe, Run

recipe = Recipe(
    members=[
        Run("digits.cfg_baseline"),
        Run("digits.cfg_regnet"),
        Run("digits.cfg_convnext"),
    ],
    blend="greedy",
)
