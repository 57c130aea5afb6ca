"""U-Net and U-Net++ (smp, same ResNet10-T encoder), five folds each, blended per pixel.

    skp-train shapes.cfg_unet --kfold 0,1,2,3,4
    skp-train shapes.cfg_unetpp --kfold 0,1,2,3,4
    skp-ensemble shapes.ens_unet                 # -> ensembles/shapes/ens_unet/submission.csv
    skp-ensemble shapes.ens_unet --tta none      # without test-time flips

Every fold's probability maps are averaged with the flips undone, members weighted by
greedy selection on out-of-fold Dice, and the threshold and minimum speck size chosen on
the out-of-fold blend; the masks are run-length encoded (column-major, 1-indexed). On
shapes, greedy selection keeps U-Net++ alone (docs/benchmarks.md).
"""

from skp.ensemble import Recipe, Run

recipe = Recipe(
    members=[Run("shapes.cfg_unet"), Run("shapes.cfg_unetpp")],
    blend="greedy",
    tta=["hflip", "vflip", "rot90"],
)
