"""Inference: overlap-tile sliding windows with mirror padding for valid and same-padded networks, and a plain
autocast inferer for training."""

from medunet.inferers.overlap_tile import OverlapTileInferer, overlap_tile_inference
from medunet.inferers.simple import AutocastInferer
from medunet.inferers.tiling import AxisPlan, mirror_index, plan_same_axis, plan_valid_axis

__all__ = [
    "AutocastInferer",
    "AxisPlan",
    "OverlapTileInferer",
    "mirror_index",
    "overlap_tile_inference",
    "plan_same_axis",
    "plan_valid_axis",
]
