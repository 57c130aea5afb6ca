"""shapes.cfg_unet with a RegNetX-200MF encoder: another backbone under the same decoder
(its 32x stride leaves 2x2 features of a 64x64 input: weaker, docs/benchmarks.md)."""

from skp.configs import load_config

cfg = load_config("shapes.cfg_unet")
cfg.backbone = "regnetx_002"
