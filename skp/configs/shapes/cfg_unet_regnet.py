"""shapes.cfg_unet with a RegNetX-200MF encoder: a second, different member for
skp-ensemble (ensembles/shapes/ens_unet.py)."""

from skp.configs import load_config

cfg = load_config("shapes.cfg_unet")
cfg.backbone = "regnetx_002"
