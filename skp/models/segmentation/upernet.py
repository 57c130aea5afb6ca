"""UPerNet (Xiao et al., 2018): pyramid pooling plus a feature pyramid.

segmentation_models_pytorch's UPerNet over a timm encoder; config in skp.models.segmentation.smp_net.
"""

from skp.models.segmentation.smp_net import SmpNet


class Net(SmpNet):
    architecture = "UPerNet"
