"""U-Net++ (Zhou et al., 2018): nested, densely connected skip pathways.

segmentation_models_pytorch's UnetPlusPlus over a timm encoder; config in skp.models.segmentation.smp_net.
"""

from skp.models.segmentation.smp_net import SmpNet


class Net(SmpNet):
    architecture = "UnetPlusPlus"
