"""Engines: adapters that feed per-pixel weight maps through MONAI's Ignite trainers and evaluators."""

from medunet.engines.weighted import PrepareBatchWithWeight, SplitLabelWeightd

__all__ = ["PrepareBatchWithWeight", "SplitLabelWeightd"]
