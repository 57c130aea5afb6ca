"""digits.cfg_baseline with a RegNetX-200MF backbone and GeM pooling: a second, different
member for skp-ensemble (ensembles/digits/ens_baseline.py)."""

from skp.configs import load_config

cfg = load_config("digits.cfg_baseline")
cfg.backbone = "regnetx_002"
cfg.pool = "gem"
cfg.search_space = None
