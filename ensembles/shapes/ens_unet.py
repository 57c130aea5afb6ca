"""Two U-Nets (ResNet10-T and RegNetX-200MF encoders), five folds each, blended per pixel.

    skp-train shapes.cfg_unet --kfold 0,1,2,3,4
    skp-train shapes.cfg_unet_regnet --kfold 0,1,2,3,4
    skp-ensemble shapes.ens_unet                 # -> ensembles/shapes/ens_unet/submission.csv
    skp-ensemble shapes.ens_unet --tta none      # without test-time flips

Every fold's probability maps are averaged with the flips undone, members weighted by
greedy selection on out-of-fold Dice, and the threshold and minimum speck size chosen on
the out-of-fold blend; the masks are run-length encoded (column-major, 1-indexed).
"""

from skp.ensemble import Recipe, Run

recipe = Recipe(
    members=[Run("shapes.cfg_unet"), Run("shapes.cfg_unet_regnet")],
    blend="greedy",
    tta=["hflip", "vflip", "rot90"],
)
