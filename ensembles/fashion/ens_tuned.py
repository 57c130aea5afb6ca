"""The fashion study's three promoted trials and its baseline trial, five folds each,
blended by `auto` (the method and how many members to keep, by cross-validated OOF log
loss); the report scores every member and the blend on all 10,000 test images.

The top trials of a study are near-copies: on Fashion-MNIST (three training seeds,
docs/benchmarks.md) the top 3 blended gained 0.002 test log loss over the tuned config,
within the seed noise, and with the baseline, the most different model, 0.0046.

    skp-tune fashion.cfg_baseline --trials 20 --pruner none --promote 3
    skp-ensemble fashion.ens_tuned                      # -> ensembles/fashion/ens_tuned/
"""

from skp.ensemble import Recipe, Study

recipe = Recipe(members=[Study("fashion.cfg_baseline", top_k=3, baseline=True)], blend="auto")
