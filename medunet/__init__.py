"""medunet: 2D and 3D U-Net segmentation on MONAI.

Subpackages, one concept each:

- :mod:`medunet.networks`: the dimension-generic :class:`~medunet.networks.UNet` and the paper presets.
"""

__version__ = "0.1.0"
