"""Losses: classes in `skp/losses/<module>.py`, named "module.Class" by `cfg.loss`.

`Loss(cfg)` reads its options from `cfg.loss_params` (never modifying it);
`forward(out: dict, batch: dict) -> dict` returns "loss" (the total that is
optimized) plus one "<name>_loss" entry per part, which the task logs.
A class attribute `activation` ("softmax", "sigmoid" or None) says how logits
become the predictions written to OOF files and used for inference.
"""
