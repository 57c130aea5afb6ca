"""Training: the fold loop behind skp-train, seed checks, trials and promotion
(`folds.train_folds`, `folds.fit_fold`), run directories with their fold locks and
resume state (`runs`), the Trainer flags every command takes (`arguments`), and
`skp-train --reproduce` (`reproduce`). The command line itself is `skp/train.py`, so that
`python skp/train.py CFG` keeps working."""
