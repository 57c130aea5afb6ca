"""shapes.cfg_unet's data and training with a Feature Pyramid Network decoder, which
predicts at a quarter of the input's resolution: 0.10 Dice behind U-Net on 64x64 shapes
(docs/benchmarks.md)."""

from skp.configs import load_config

cfg = load_config("shapes.cfg_unet")
cfg.model = "segmentation.fpn"
cfg.decoder_channels = None  # FPN's widths are model_params: decoder_pyramid_channels, decoder_segmentation_channels
