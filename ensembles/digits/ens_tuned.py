"""The study's three promoted trials, five folds each, blended by their geometric mean.

Geometric, not greedy: on digits, weights fitted on OOF log loss overfit (the greedy
blend's cross-validated score was worse than the geometric mean's for both study
seeds of tests/benchmarks/bench_study_blend.py; docs/benchmarks.md).

    skp-tune digits.cfg_baseline --trials 12 --pruner none --confirm 2 --promote 3
    skp-ensemble digits.ens_tuned                       # -> ensembles/digits/ens_tuned/
    skp-ensemble digits.ens_tuned --blend simplex       # re-blend from the snapshot, about a second
"""

from skp.ensemble import Recipe, Study

recipe = Recipe(members=[Study("digits.cfg_baseline", top_k=3)], blend="geometric")
