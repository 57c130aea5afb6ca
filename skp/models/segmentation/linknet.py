"""LinkNet (Chaurasia and Culurciello, 2017): additive skips, a light decoder.

segmentation_models_pytorch's Linknet over a timm encoder; config in skp.models.segmentation.smp_net.
"""

from skp.models.segmentation.smp_net import SmpNet


class Net(SmpNet):
    architecture = "Linknet"
