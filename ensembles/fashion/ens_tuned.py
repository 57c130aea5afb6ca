"""The fashion study's five promoted trials, five folds each, blended by `auto` (the method
and how many of the top trials to keep, by cross-validated OOF log loss); the report
scores every member and the blend on all 10,000 test images.

    skp-tune fashion.cfg_baseline --trials 20 --pruner none --promote 5
    skp-ensemble fashion.ens_tuned                      # -> ensembles/fashion/ens_tuned/
"""

from skp.ensemble import Recipe, Study

recipe = Recipe(members=[Study("fashion.cfg_baseline", top_k=5)], blend="auto")
