"""Datasets: `skp/datasets/[<project>/]<name>.py` defines `class Dataset(cfg, mode)`.

`mode` is "train", "val" or "inference". Items are dicts: "x" (float CHW image
tensor of 0-255 values; models normalize), "y" (targets, absent in inference),
"index" (row number in the split, used to match predictions back to ids) and
any metadata the model reads. `dataset.ids` lists the split's ids in row order.
Named by `cfg.dataset`, e.g. "simple2d".
"""
