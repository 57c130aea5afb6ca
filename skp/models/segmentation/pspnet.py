"""PSPNet (Zhao et al., 2017): pyramid pooling on a shallow encoder.

segmentation_models_pytorch's PSPNet over a timm encoder; config in skp.models.segmentation.smp_net.
"""

from skp.models.segmentation.smp_net import SmpNet


class Net(SmpNet):
    architecture = "PSPNet"
