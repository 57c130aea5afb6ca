"""MA-Net (Fan et al., 2020): U-Net with position and multi-scale attention blocks.

segmentation_models_pytorch's MAnet over a timm encoder; config in skp.models.segmentation.smp_net.
"""

from skp.models.segmentation.smp_net import SmpNet


class Net(SmpNet):
    architecture = "MAnet"
