"""``python -m medunet.demo``: build the two paper networks and print their tile arithmetic and sizes.

Networks are built on the meta device: nothing is allocated and nothing is computed, so this runs in seconds.
"""

from __future__ import annotations

import torch

from medunet.networks import count_parameters, unet2d_paper, unet3d_cicek


def describe(name: str, net, tile) -> str:
    out = net.output_size(tile)
    with torch.device("meta"):
        shape = tuple(net(torch.empty(1, net.in_channels, *tile)).shape)
    lines = [
        f"{name}",
        f"  input tile {tile} -> output {out} (forward on meta: {shape})",
        f"  margin {net.margin} per side; pooling factor {net.downsample_factor}; "
        f"smallest input for a {out[0]}-wide output: {net.valid_input_size(out[0])}",
        f"  parameters: {count_parameters(net):,} (without norm layers: {count_parameters(net, include_norm=False):,})",
    ]
    return "\n".join(lines)


def main() -> None:
    with torch.device("meta"):
        paper2d, cicek3d = unet2d_paper(), unet3d_cicek()
    print(describe("U-Net 2015 (unet2d_paper, 1 -> 2 classes)", paper2d, (572, 572)))
    print(describe("3D U-Net 2016 (unet3d_cicek, 3 -> 3 classes)", cicek3d, (132, 132, 116)))


if __name__ == "__main__":
    main()
