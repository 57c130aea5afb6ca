"""Feature Pyramid Network (Lin et al., 2017) as a segmentation head.

segmentation_models_pytorch's FPN over a timm encoder; config in skp.models.segmentation.smp_net.
"""

from skp.models.segmentation.smp_net import SmpNet


class Net(SmpNet):
    architecture = "FPN"
