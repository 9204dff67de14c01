"""Networks: the dimension-generic :class:`UNet` and the paper presets."""

from medunet.networks.presets import count_parameters, unet2d_paper, unet3d_cicek, unet3d_mri
from medunet.networks.unet import ConvBlock, UNet, UpBlock

__all__ = ["ConvBlock", "UNet", "UpBlock", "count_parameters", "unet2d_paper", "unet3d_cicek", "unet3d_mri"]
