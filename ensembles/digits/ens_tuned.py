"""The study's three promoted trials, five folds each, blended by `auto`: the method and
the number of members (the best alone included) with the best cross-validated OOF score.

On digits a fixed method did not pay: the geometric mean of the three scored 0.0159 OOF
log loss against 0.0108 for the best trial alone (docs/benchmarks.md), so the README's
main job ended with a submission worse on CV than its best member. auto weighs every
method on the top 1, 2 and 3 trials and keeps what cross-validation prefers.

    skp-tune digits.cfg_baseline --trials 12 --pruner none --confirm 2 --promote 3
    skp-ensemble digits.ens_tuned                       # -> ensembles/digits/ens_tuned/
    skp-ensemble digits.ens_tuned --blend geometric     # re-blend from the snapshot, about a second
"""

from skp.ensemble import Recipe, Study

recipe = Recipe(members=[Study("digits.cfg_baseline", top_k=3)], blend="auto")
