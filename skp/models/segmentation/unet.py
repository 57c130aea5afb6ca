"""U-Net (Ronneberger et al., 2015): a decoder that upsamples and concatenates each encoder stage.

segmentation_models_pytorch's Unet over a timm encoder; config in skp.models.segmentation.smp_net.
"""

from skp.models.segmentation.smp_net import SmpNet


class Net(SmpNet):
    architecture = "Unet"
