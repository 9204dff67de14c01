"""Losses: pixel-weighted cross-entropy (the U-Net papers), Dice + weighted CE, and the packed-target adapter."""

from medunet.losses.dice_ce import WeightedDiceCELoss
from medunet.losses.packed import PackedWeightLoss, split_label_weight
from medunet.losses.weighted_ce import WeightedCrossEntropyLoss, crop_to_prediction

__all__ = [
    "PackedWeightLoss",
    "WeightedCrossEntropyLoss",
    "WeightedDiceCELoss",
    "crop_to_prediction",
    "split_label_weight",
]
