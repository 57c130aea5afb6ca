"""shapes.cfg_unet's data and training with a Feature Pyramid Network decoder: a second,
different member for skp-ensemble (ensembles/shapes/ens_unet.py)."""

from skp.configs import load_config

cfg = load_config("shapes.cfg_unet")
cfg.model = "segmentation.fpn"
cfg.decoder_channels = None  # FPN's widths are model_params: decoder_pyramid_channels, decoder_segmentation_channels
