"""Tasks: `skp/tasks/<name>.py` defines `class Task(lightning.pytorch.LightningModule)`.

`Task(cfg)` builds the model (cfg.model), loss (cfg.loss), metrics (cfg.metrics),
optimizer and scheduler from the config, logs "train/*" and "val/*" values, keeps
an EMA of the weights when cfg.ema["on"], and after every validation epoch offers
`oof_frame()`: one row per validation sample (id, fold, targets, predictions).
`predict(out) -> (B, K)` turns model outputs into those predictions (probabilities
after the loss's activation, or values); skp-ensemble calls it at inference.
`dense_predictions(out, batch) -> (B, K, H, W) | None` gives per-pixel predictions too
large for a table (segmentation's uint8 probabilities); the best epoch's are kept in
`oof_masks.npy`, in oof.csv's row order.
Named by `cfg.task`, e.g. "classification". Samplers live in `samplers.py`.
"""
