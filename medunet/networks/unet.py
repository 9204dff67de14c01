"""One U-Net for 2D and 3D: the 2015 paper's valid-convolution network, the 3D U-Net, and same-padded variants.

The network reads like Fig. 1 of Ronneberger et al. (2015)::

    input ─ ConvBlock ──────────────────────────────── crop+concat ─ ConvBlock ─ 1x1 conv ─ output
               └ maxpool ─ ConvBlock ──── crop+concat ─ ConvBlock ─ up-conv ┘
                              └ maxpool ─ ConvBlock (bottom) ─ up-conv ┘

with ``ConvBlock = (3x3 conv => [norm] => act) * 2``, one level per entry of ``channels``.

Size rules (``L = len(channels)`` levels, ``f = 2 ** (L - 1)`` the total pooling factor):

- ``padding="valid"``: every 3x3 convolution is unpadded, skips are centre-cropped before concatenation and the
  output is ``2 * margin`` smaller than the input per axis, ``margin = 6 * f - 4`` (92 for the 2D paper
  network, 44 for the 3D U-Net). Valid sizes are ``n = 2 * margin + 4 (mod f)`` with a positive output:
  ``n = 12 (mod 16), n >= 188`` for the 2D paper network, ``n = 4 (mod 8), n >= 92`` for the 3D U-Net.
- ``padding="same"``: output size equals input size; valid sizes are the multiples of ``f``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import List

import torch
from monai.networks.blocks import Convolution, UpSample
from monai.networks.layers.factories import Conv, Pool
from monai.networks.layers.utils import get_dropout_layer
from torch import nn

__all__ = ["ConvBlock", "UNet", "UpBlock"]

_KERNEL = 3


class ConvBlock(nn.Sequential):
    """``(conv 3x3 => [norm] => act) * 2``, unpadded in valid mode (each conv removes 1 voxel per side)."""

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        padding: int,
        norm: str | tuple | None,
        act: str | tuple,
        bias: bool,
    ) -> None:
        conv = dict(spatial_dims=spatial_dims, kernel_size=_KERNEL, padding=padding, norm=norm, act=act, bias=bias)
        super().__init__(
            Convolution(in_channels=in_channels, out_channels=mid_channels, **conv),
            Convolution(in_channels=mid_channels, out_channels=out_channels, **conv),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_scripting():
            for layer in self:
                x = layer(x)
            return x
        return self._forward_eager(x)

    @torch.jit.unused
    def _forward_eager(self, x: torch.Tensor) -> torch.Tensor:
        """The block, in fp32 where CPU bf16 autocast would get its weight gradients wrong.

        oneDNN's bf16 weight gradient of a 3x3x3 convolution reads uninitialised memory when the input depth (first
        spatial axis) is 2, so some training steps get NaN or garbage gradients at the bottom of a U-Net fed 32-voxel
        patches (PyTorch 2.13 CPU; fp32, other depths and the input gradient are right). Such blocks run in fp32
        while gradients are recorded: a few voxels, so the cost is nil. Tested in tests/networks/test_unet.py.
        """
        if (
            x.dim() == 5
            and x.shape[2] == 2
            and x.device.type == "cpu"
            and torch.is_grad_enabled()
            and torch.is_autocast_enabled("cpu")
        ):
            with torch.autocast("cpu", enabled=False):
                return super().forward(x.float())
        return super().forward(x)


def _center_crop(x: torch.Tensor, size: List[int]) -> torch.Tensor:
    """Crop the spatial axes of ``x`` (B, C, *spatial) to ``size`` around their centre."""
    for d in range(len(size)):
        extra = x.shape[d + 2] - size[d]
        if extra != 0:
            x = x.narrow(d + 2, extra // 2, size[d])
    return x


class UpBlock(nn.Module):
    """``up-conv 2x2 => crop-and-concat with the skip => ConvBlock``."""

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        up_channels: int,
        skip_channels: int,
        out_channels: int,
        padding: int,
        norm: str | tuple | None,
        act: str | tuple,
        bias: bool,
        up_bias: bool,
        upsample: str,
    ) -> None:
        super().__init__()
        align = None if upsample == "deconv" else False
        self.up = UpSample(
            spatial_dims,
            in_channels,
            up_channels,
            scale_factor=2,
            mode=upsample,
            interp_mode="linear",
            align_corners=align,
            bias=up_bias,
        )
        self.conv = ConvBlock(
            spatial_dims, up_channels + skip_channels, out_channels, out_channels, padding, norm, act, bias
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        skip = _center_crop(skip, x.shape[2:])
        return self.conv(torch.cat([skip, x], dim=1))


def _level_channels(channels: Sequence[int | Sequence[int]]) -> list[tuple[int, int]]:
    """Normalise ``channels`` to one ``(mid, out)`` pair per level: ``64 -> (64, 64)``, ``(32, 64)`` stays."""
    if len(channels) < 2:
        raise ValueError(f"UNet needs at least 2 levels in `channels`, got {list(channels)!r}.")
    levels = []
    for c in channels:
        pair = (c, c) if isinstance(c, int) else tuple(c)
        if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
            raise ValueError(f"each entry of `channels` must be a positive int or a pair of them, got {c!r}.")
        levels.append(pair)
    return levels


def _size_through(n: int, levels: int, valid: bool) -> int:
    """Output size of one axis of length ``n``, or -1 if ``n`` is not a valid input size."""
    lost = 4 if valid else 0  # two unpadded 3x3 convolutions per block, 1 voxel per side each
    for level in range(levels):
        if level > 0:
            if n % 2 != 0:
                return -1
            n = n // 2
        n = n - lost
        if n < 1:
            return -1
    for _ in range(levels - 1):
        n = 2 * n - lost
        if n < 1:
            return -1
    return n


def _nearest_valid(n: int, levels: int, valid: bool) -> List[int]:
    """The largest valid size below ``n`` (if any) and the smallest valid size above it."""
    step = 1 << (levels - 1)
    out: List[int] = []
    for m in range(n - 1, max(n - step, 0), -1):
        if _size_through(m, levels, valid) > 0:
            out.append(m)
            break
    m = n + 1
    while _size_through(m, levels, valid) < 1:
        m += 1
    out.append(m)
    return out


class UNet(nn.Module):
    """Dimension-generic U-Net (Ronneberger et al. 2015; Cicek et al. 2016).

    Args:
        spatial_dims: 2 or 3.
        in_channels: number of input channels (image modalities).
        out_channels: number of output channels (classes); the network returns logits.
        channels: output channels of each level, from the top (full resolution) to the bottom. An entry is
            an int (both convolutions of the level have that width) or a pair ``(mid, out)`` for the 3D
            U-Net's "double before pooling" levels, e.g. ``(32, 64)``.
        padding: ``"valid"`` (unpadded convolutions, output smaller than input, as in the papers) or
            ``"same"`` (output size equals input size).
        norm: ``None`` (the 2015 paper), ``"batch"`` (the 3D U-Net), ``"instance"`` or ``(name, kwargs)``;
            applied between each convolution and its activation.
        act: ``"relu"`` or ``(name, kwargs)``, e.g. ``("leakyrelu", {"negative_slope": 0.01})``.
        dropout: rate (or ``(name, kwargs)``) of a dropout layer at the end of the contracting path.
        upsample: ``"deconv"`` (2x2 transposed convolution, the papers) or ``"nontrainable"``
            (linear interpolation, preceded by a 1x1 convolution when the channel count changes).
        up_halves_channels: the up-convolution halves the channels (2015 paper) or keeps them (3D U-Net).
        bias: bias in the 3x3 convolutions. The final 1x1 convolution always has one.
        up_bias: bias in the up-convolutions; defaults to ``bias``.

    Shapes:
        input ``(B, in_channels, *spatial)``, output ``(B, out_channels, *self.output_size(spatial))``.

    Examples::

        >>> net = UNet(2, 1, 2)                                   # the 2015 paper network
        >>> net.output_size((572, 572)), net.margin
        ((388, 388), 92)
        >>> net = UNet(3, 4, 3, channels=(8, 16, 32), padding="same", norm="instance")
        >>> net(torch.zeros(1, 4, 32, 32, 20)).shape
        torch.Size([1, 3, 32, 32, 20])
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        channels: Sequence[int | Sequence[int]] = (64, 128, 256, 512, 1024),
        padding: str = "valid",
        norm: str | tuple | None = None,
        act: str | tuple = "relu",
        dropout: float | tuple = 0.0,
        upsample: str = "deconv",
        up_halves_channels: bool = True,
        bias: bool = True,
        up_bias: bool | None = None,
    ) -> None:
        super().__init__()
        if spatial_dims not in (1, 2, 3):
            raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims!r}.")
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}.")
        if upsample not in ("deconv", "nontrainable"):
            raise ValueError(f"upsample must be 'deconv' or 'nontrainable', got {upsample!r}.")
        levels = _level_channels(channels)
        up_bias = bias if up_bias is None else up_bias
        conv_padding = 0 if padding == "valid" else _KERNEL // 2

        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.padding = padding
        self.levels = len(levels)
        self.valid = padding == "valid"

        # contracting path: one ConvBlock per level, the last one is the bottom of the "U"
        self.encoder = nn.ModuleList()
        prev = in_channels
        for mid, out in levels:
            self.encoder.append(ConvBlock(spatial_dims, prev, mid, out, conv_padding, norm, act, bias))
            prev = out
        self.pool = Pool[Pool.MAX, spatial_dims](kernel_size=2, stride=2)
        self.dropout = get_dropout_layer(dropout, dropout_dim=1) if dropout else nn.Identity()

        # expansive path: mirrors the encoder's recorded widths, from the bottom up
        self.decoder = nn.ModuleList()
        for _, skip in reversed(levels[:-1]):
            up = prev // 2 if up_halves_channels else prev
            self.decoder.append(
                UpBlock(spatial_dims, prev, up, skip, skip, conv_padding, norm, act, bias, up_bias, upsample)
            )
            prev = skip
        self.head = Conv[Conv.CONV, spatial_dims](prev, out_channels, kernel_size=1)

        self.apply(_he_normal)

    # ---- tile arithmetic -------------------------------------------------------------------------------------

    @property
    def downsample_factor(self) -> int:
        """Total pooling factor ``2 ** (levels - 1)``: valid sizes repeat with this period, and tiles of a valid
        network line up with the whole-image computation only at offsets that are multiples of it."""
        return 1 << (self.levels - 1)

    @property
    def margin(self) -> int:
        """Context lost per side and axis: 92 for the 2015 network, 44 for the 3D U-Net, 0 when same-padded."""
        n = self._first_valid()
        return (n - _size_through(n, self.levels, self.valid)) // 2

    def output_size(self, input_size: int | Sequence[int]) -> int | tuple[int, ...]:
        """Spatial output size for ``input_size`` (an int or one int per axis); raises ``ValueError`` if invalid."""
        sizes = _as_sizes(input_size, self.spatial_dims)
        self._check_input_size(list(sizes))
        out = tuple(_size_through(n, self.levels, self.valid) for n in sizes)
        return out[0] if isinstance(input_size, int) else out

    def valid_input_size(self, min_output_size: int | Sequence[int]) -> int | tuple[int, ...]:
        """Smallest valid input size whose output covers at least ``min_output_size`` (per axis).

        ``UNet(2, 1, 2).valid_input_size(388) == 572``; ``valid_input_size(1024) == 1212`` (output 1028).
        """
        sizes = _as_sizes(min_output_size, self.spatial_dims)
        out = []
        for m in sizes:
            n = max(int(m), 1) + 2 * self.margin
            while _size_through(n, self.levels, self.valid) < m:
                n += 1
            out.append(n)
        return out[0] if isinstance(min_output_size, int) else tuple(out)

    def _check_input_size(self, spatial: List[int]) -> None:
        if len(spatial) != self.spatial_dims:
            raise ValueError(
                "UNet expects input (B, C, "
                + ", ".join(["*"] * self.spatial_dims)
                + ") with "
                + str(self.spatial_dims)
                + " spatial axes, got spatial size "
                + str(spatial)
                + "."
            )
        for d, n in enumerate(spatial):
            if _size_through(n, self.levels, self.valid) < 1:
                near = _nearest_valid(n, self.levels, self.valid)
                rule = (
                    (
                        "valid sizes are n = "
                        + str(self._first_valid() % self.downsample_factor)
                        + " (mod "
                        + str(self.downsample_factor)
                        + "), n >= "
                        + str(self._first_valid())
                    )
                    if self.valid
                    else ("valid sizes are the multiples of " + str(self.downsample_factor))
                )
                raise ValueError(
                    "UNet ("
                    + self.padding
                    + " padding, "
                    + str(self.levels)
                    + " levels) cannot take spatial size "
                    + str(spatial)
                    + ": axis "
                    + str(d)
                    + " has size "
                    + str(n)
                    + "; nearest valid sizes: "
                    + " or ".join([str(m) for m in near])
                    + " ("
                    + rule
                    + ")."
                )

    def _first_valid(self) -> int:
        n = 1
        while _size_through(n, self.levels, self.valid) < 1:
            n += 1
        return n

    # ---- forward ---------------------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_size(list(x.shape[2:]))
        skips: List[torch.Tensor] = []
        for level, block in enumerate(self.encoder):
            if level > 0:
                x = self.pool(x)
            x = block(x)
            skips.append(x)
        x = self.dropout(x)
        for i, up in enumerate(self.decoder):
            x = up(x, skips[-2 - i])
        return self.head(x)


def _as_sizes(size: int | Sequence[int], spatial_dims: int) -> tuple[int, ...]:
    sizes = (int(size),) * spatial_dims if isinstance(size, int) else tuple(int(s) for s in size)
    if len(sizes) != spatial_dims:
        raise ValueError(f"expected {spatial_dims} sizes (one per spatial axis), got {size!r}.")
    return sizes


def _he_normal(module: nn.Module) -> None:
    """He initialisation as in the paper: N(0, sqrt(2 / N)), N = inputs feeding one output unit; zero biases.

    For a transposed convolution with kernel == stride each output unit sees ``in_channels`` inputs (one tap),
    not ``out_channels * kernel`` as torch's generic fan-in rule for transposed weights would say.
    """
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        fan_in = module.in_channels // module.groups * module.weight[0, 0].numel()
    elif isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        taps = 1
        for k, s in zip(module.kernel_size, module.stride):
            taps *= max(k // s, 1)
        fan_in = module.in_channels // module.groups * taps
    else:
        return
    nn.init.normal_(module.weight, 0.0, (2.0 / fan_in) ** 0.5)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
