"""Feeding a per-pixel weight map through MONAI's Ignite engines.

:class:`~monai.engines.SupervisedTrainer` computes ``loss_function(pred, target)`` with the one target that its
``prepare_batch`` returns. :class:`PrepareBatchWithWeight` returns ``target = cat([label, weight], dim=1)``;
:class:`medunet.losses.PackedWeightLoss` splits it again for the weighted loss. After the iteration the packed
target sits in ``engine.state.output["label"]``: :class:`SplitLabelWeightd` (trainer ``postprocessing``) turns it
back into a plain label, cropped to the prediction, for train metrics and handlers.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import torch
from monai.config import KeysCollection
from monai.engines.utils import PrepareBatch
from monai.transforms import MapTransform
from monai.utils import CommonKeys

from medunet.engines.prepare import as_plain_tensor
from medunet.losses.packed import split_label_weight
from medunet.losses.weighted_ce import crop_to_prediction

__all__ = ["PrepareBatchWithWeight", "SplitLabelWeightd"]


def _to(x: torch.Tensor, device: str | torch.device | None, non_blocking: bool, **kwargs: Any) -> torch.Tensor:
    return as_plain_tensor(x).to(device=device, non_blocking=non_blocking, **kwargs)


class PrepareBatchWithWeight(PrepareBatch):
    """``prepare_batch`` for a trainer: ``(image, cat([label, weight], dim=1))`` from a dict batch.

    Args:
        weight_key: the batch key of the weight map ``(B, 1, *spatial)`` (or ``(B, *spatial)``).
        image_key: the batch key of the network input.
        label_key: the batch key of the class-index label ``(B, 1, *spatial)``.

    Returns ``image`` and the packed float32 target ``(B, 2, *spatial)``, channel 0 the label and channel 1 the
    weight, both moved to the engine's device as plain tensors (see :class:`~medunet.engines.PlainTensorBatch`).
    Pair it with :class:`medunet.losses.PackedWeightLoss`. Label and weight must have the same spatial size (the
    loss, not this adapter, crops them to a valid network's smaller prediction).
    """

    def __init__(
        self, weight_key: str = "weight", image_key: str = CommonKeys.IMAGE, label_key: str = CommonKeys.LABEL
    ) -> None:
        self.weight_key = weight_key
        self.image_key = image_key
        self.label_key = label_key

    def __call__(
        self,
        batchdata: dict[str, torch.Tensor],
        device: str | torch.device | None = None,
        non_blocking: bool = False,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(batchdata, Mapping):
            raise TypeError(f"PrepareBatchWithWeight expects a dict batch, got {type(batchdata).__name__}.")
        missing = [k for k in (self.image_key, self.label_key, self.weight_key) if k not in batchdata]
        if missing:
            raise KeyError(f"batch lacks the keys {missing}; it has {sorted(map(str, batchdata))}.")
        label, weight = batchdata[self.label_key], batchdata[self.weight_key]
        if weight.ndim == label.ndim - 1:
            weight = weight.unsqueeze(1)
        if label.ndim < 3 or label.shape[1] != 1 or weight.shape != label.shape:
            raise ValueError(
                f"label and weight must both be (B, 1, *spatial) with the same shape, got label "
                f"{tuple(label.shape)} and weight {tuple(weight.shape)}."
            )
        target = torch.cat([label.float(), weight.float()], dim=1)
        image = _to(batchdata[self.image_key], device, non_blocking, **kwargs)
        return image, _to(target, device, non_blocking, **kwargs)


class SplitLabelWeightd(MapTransform):
    """Undo the packing on one decollated engine output: ``label (2, *s)`` -> ``label (1, *s')``, ``weight (1, *s')``.

    Use it first in a :class:`~monai.engines.SupervisedTrainer`'s ``postprocessing`` when the trainer runs with
    :class:`PrepareBatchWithWeight`, so train metrics (``MeanDice`` ...) and handlers see a plain label.

    Args:
        keys: the packed target key(s), usually ``"label"``.
        weight_key: where to put the weight map; ``None`` drops it.
        pred_key: centre-crop label and weight to this key's spatial size (valid networks); ``None`` keeps the
            size.
        allow_missing_keys: don't raise if a key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection = CommonKeys.LABEL,
        weight_key: str | None = "weight",
        pred_key: str | None = CommonKeys.PRED,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.weight_key = weight_key
        self.pred_key = pred_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            label, weight = split_label_weight(d[key][None])  # one item: add the batch axis back
            if self.pred_key is not None and self.pred_key in d:
                pred = d[self.pred_key][None]
                label = crop_to_prediction(pred, label, "label")
                weight = None if weight is None else crop_to_prediction(pred, weight, "weight")
            d[key] = label[0]
            if self.weight_key is not None and weight is not None:
                d[self.weight_key] = weight[0]
        return d
