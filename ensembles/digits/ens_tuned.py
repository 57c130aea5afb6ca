"""The study's three promoted trials, five folds each, blended by greedy forward selection.

    skp-tune digits.cfg_baseline --trials 16 --pruner none --confirm 2 --promote 3
    skp-ensemble digits.ens_tuned                       # -> ensembles/digits/ens_tuned/
    skp-ensemble digits.ens_tuned --blend simplex       # re-blend from the snapshot, about a second
"""

from skp.ensemble import Recipe, Study

recipe = Recipe(members=[Study("digits.cfg_baseline", top_k=3)], blend="greedy")
