"""Ready-made U-Nets: the two paper networks exactly, and a same-padded 3D U-Net for brain MRI/CT.

Each preset is a plain function returning a :class:`~medunet.networks.UNet`, so bundle configs build them with
``{"_target_": "medunet.networks.unet2d_paper"}`` and override any argument by name.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from medunet.networks.unet import UNet

__all__ = ["count_parameters", "unet2d_paper", "unet3d_cicek", "unet3d_mri"]


def unet2d_paper(in_channels: int = 1, out_channels: int = 2, **kwargs: Any) -> UNet:
    """The 2015 U-Net exactly (Ronneberger et al., Fig. 1): valid 3x3 convs + ReLU, no normalisation,
    channels 64-1024, 2x2 up-convs halving the channels, crop-and-concat, dropout 0.5 at the end of the
    contracting path.

    572x572 -> 388x388 (margin 92 px per side; valid sizes n = 12 mod 16, n >= 188);
    31,030,658 parameters for 1 input channel and 2 classes. ``kwargs`` override any :class:`UNet` argument.
    """
    args = dict(channels=(64, 128, 256, 512, 1024), padding="valid", norm=None, act="relu", dropout=0.5)
    return UNet(2, in_channels, out_channels, **{**args, **kwargs})


def unet3d_cicek(in_channels: int = 3, out_channels: int = 3, **kwargs: Any) -> UNet:
    """The 3D U-Net exactly (Cicek et al. 2016): valid 3x3x3 convs, batch norm before each ReLU, channels
    32/64 | 64/128 | 128/256 | 256/512 (doubling before each pooling), 2x2x2 up-convs keeping the channel count.

    132x132x116 -> 44x44x28 (margin 44 per side; valid sizes n = 4 mod 8, n >= 92).

    Parameter count: the paper reports 19,069,955. That is this network counted as the paper's Caffe model
    is: convolution weights and biases, up-convolutions without bias, batch-norm scale/shift not counted,
    i.e. ``count_parameters(net, include_norm=False) == 19_069_955``. The full ``sum(p.numel())``, with the
    4,672 batch-norm affine parameters, is 19,074,627.
    """
    args = dict(
        channels=((32, 64), (64, 128), (128, 256), (256, 512)),
        padding="valid",
        norm="batch",
        act="relu",
        up_halves_channels=False,
        up_bias=False,
    )
    return UNet(3, in_channels, out_channels, **{**args, **kwargs})


def unet3d_mri(in_channels: int = 4, out_channels: int = 3, **kwargs: Any) -> UNet:
    """Same-padded 3D U-Net for multimodal brain MRI / CT, sized for a CPU: channels 16-32-64-128-256,
    instance norm (affine) + LeakyReLU(0.01) as in nnU-Net, 2x2x2 up-convs halving the channels.

    Output size equals input size; spatial sizes must be multiples of 16 (the sliding-window inferer pads).
    """
    args = dict(
        channels=(16, 32, 64, 128, 256),
        padding="same",
        norm=("instance", {"affine": True}),
        act=("leakyrelu", {"negative_slope": 0.01, "inplace": True}),
    )
    return UNet(3, in_channels, out_channels, **{**args, **kwargs})


def count_parameters(network: nn.Module, include_norm: bool = True) -> int:
    """Number of trainable parameters; ``include_norm=False`` leaves out normalisation layers' scale/shift."""
    norm_types = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
    total = 0
    for module in network.modules():
        if not include_norm and isinstance(module, norm_types):
            continue
        total += sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad)
    return total
