"""Models: `skp/models/<family>/<name>.py` defines `class Net(nn.Module)`.

`Net(cfg)` takes only the config; `forward(batch: dict) -> dict` reads the
dataset's batch ("x" and any metadata) and returns at least "logits".
Named by `cfg.model`, e.g. "classification.net2d". Pixel scaling happens in the
model (cfg.normalization), so datasets hand over raw 0-255 values.
"""
