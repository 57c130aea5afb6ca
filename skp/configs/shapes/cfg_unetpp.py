"""shapes.cfg_unet's data, encoder and training with a U-Net++ decoder (nested skip
pathways): a second, different member for skp-ensemble (ensembles/shapes/ens_unet.py)."""

from skp.configs import load_config

cfg = load_config("shapes.cfg_unet")
cfg.model = "segmentation.unetplusplus"
