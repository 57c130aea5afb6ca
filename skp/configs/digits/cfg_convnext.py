"""digits.cfg_baseline with a ConvNeXt-Atto backbone at 48x48: a third member for
skp-ensemble, with another architecture family and input size."""

from skp.configs import load_config

cfg = load_config("digits.cfg_baseline")
cfg.backbone = "convnext_atto"
cfg.image_height = cfg.image_width = 48
cfg.optimizer_params = {"lr": 2e-3, "weight_decay": 5e-2}
cfg.search_space = None
