"""Out-of-fold predictions of finished runs, and how they are scored: what promotion
ranks a study's trials by and what skp-ensemble blends, below both.

A `Member` is one source of predictions: an skp run (its config and finished fold
directories, each with oof.csv) or a pair of prediction files. A `Reference` is the
training rows every member must predict (ids, targets, folds, from the annotations);
`load_oof` aligns a member's OOF predictions to it. A `Scorer` scores predictions as
the members were validated: the skp metric class that reports the value (or its NumPy
twin), on predictions turned back into logits.
"""
