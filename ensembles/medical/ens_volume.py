"""The 3D volume model on its four folds: a smoke test that skp-ensemble predicts volumes
(nifti3d, classification.net3d). No TTA: the views are 2D albumentations transforms.

    skp-train medical.cfg_volume --kfold 0,1,2,3
    skp-ensemble medical.ens_volume                     # -> ensembles/medical/ens_volume/
"""

from skp.ensemble import Recipe, Run

recipe = Recipe(members=[Run("medical.cfg_volume")])
