"""DeepLabV3+ (Chen et al., 2018): DeepLabV3 with a low-level decoder.

segmentation_models_pytorch's DeepLabV3Plus over a timm encoder; config in skp.models.segmentation.smp_net.
"""

from skp.models.segmentation.smp_net import SmpNet


class Net(SmpNet):
    architecture = "DeepLabV3Plus"
