"""Inference: overlap-tile sliding windows with mirror padding for valid and same-padded networks."""

from medunet.inferers.overlap_tile import OverlapTileInferer, overlap_tile_inference
from medunet.inferers.tiling import AxisPlan, mirror_index, plan_same_axis, plan_valid_axis

__all__ = [
    "AxisPlan",
    "OverlapTileInferer",
    "mirror_index",
    "overlap_tile_inference",
    "plan_same_axis",
    "plan_valid_axis",
]
