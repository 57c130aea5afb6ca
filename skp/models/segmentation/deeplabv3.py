"""DeepLabV3 (Chen et al., 2017): atrous spatial pyramid pooling on a dilated encoder.

segmentation_models_pytorch's DeepLabV3 over a timm encoder; config in skp.models.segmentation.smp_net.
"""

from skp.models.segmentation.smp_net import SmpNet


class Net(SmpNet):
    architecture = "DeepLabV3"
