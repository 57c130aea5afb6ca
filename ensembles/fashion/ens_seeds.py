"""The fashion study's best promoted trial at three seeds and its baseline trial, five
folds each, blended by `auto`; the report scores every member and the blend on all
10,000 test images.

On Fashion-MNIST (docs/benchmarks.md) the tuned config at three seeds, averaged, scored
0.2470 test log loss against 0.2490 for the top 3 with the baseline (ens_tuned) and
0.2535 for the tuned config alone; `auto` left the baseline out there. --promote-seeds 2
trains every promoted trial twice more on every fold: three times promotion's compute
(--promote 1 --promote-seeds 2 copies the best trial only, but then promotes only it).

    skp-tune fashion.cfg_baseline --trials 20 --pruner none --promote 3 --promote-seeds 2
    skp-ensemble fashion.ens_seeds                      # -> ensembles/fashion/ens_seeds/
"""

from skp.ensemble import Recipe, Study

recipe = Recipe(members=[Study("fashion.cfg_baseline", top_k=1, baseline=True, seeds=True)], blend="auto")
