"""skp-tune: search a config's `cfg.search_space` with Optuna.

A trial is an ordinary skp run (its own run directory, checkpoints and OOF
predictions) whose parameters are applied to a private copy of the config exactly
like command-line overrides, so derived attributes follow them.
"""
