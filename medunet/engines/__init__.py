"""Engines: ``prepare_batch`` adapters for MONAI's Ignite trainers: plain-tensor batches, per-pixel weight maps."""

from medunet.engines.prepare import PlainTensorBatch, as_plain_tensor
from medunet.engines.weighted import PrepareBatchWithWeight, SplitLabelWeightd

__all__ = ["PlainTensorBatch", "PrepareBatchWithWeight", "SplitLabelWeightd", "as_plain_tensor"]
