"""A base class for metrics computed per image on label maps, with named statistics per image."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.metrics import CumulativeIterationMetric
from monai.metrics.utils import do_metric_reduction
from monai.utils import MetricReduction

from medunet.metrics.utils import check_same_shape, to_label_map

__all__ = ["LabelMapMetric"]


class LabelMapMetric(CumulativeIterationMetric):
    """Cumulative metric that turns each batch into label maps and records a few statistics per image.

    Subclasses name their per-image statistics in ``stats`` and implement :meth:`_image_stats`; the buffer then holds
    one row of ``len(stats)`` values per image (what ``IgniteMetricHandler(save_details=True)`` stores in
    ``engine.state.metric_details``). :meth:`aggregate` reduces the rows over images.

    Args:
        metric_name: the statistic :meth:`aggregate` returns, one of ``stats`` (or the derived names of a subclass);
            a sequence of names returns a dict (ignite then records each key in ``engine.state.metrics`` too).
        reduction: how per-image values are reduced, MONAI's ``MetricReduction`` (NaN-ignoring ``"mean"`` by default).
        get_not_nans: also return the count of non-NaN values, as MONAI metrics do.
    """

    stats: tuple[str, ...] = ()

    def __init__(
        self,
        metric_name: str | Sequence[str],
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__()
        names = [metric_name] if isinstance(metric_name, str) else list(metric_name)
        unknown = [n for n in names if n not in self.metric_names()]
        if not names or unknown:
            raise ValueError(f"`metric_name` must be one or more of {self.metric_names()}, got {metric_name!r}.")
        self.metric_name = metric_name
        self.reduction = reduction
        self.get_not_nans = get_not_nans

    @classmethod
    def metric_names(cls) -> tuple[str, ...]:
        """The names :meth:`aggregate` accepts."""
        return cls.stats

    def _image_stats(self, pred: torch.Tensor, true: torch.Tensor) -> list[float]:
        """Statistics of one image from its label maps ``(*spatial)``, in the order of ``stats``."""
        raise NotImplementedError

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Per-image statistics ``(B, len(stats))`` of a batch ``(B, C, *spatial)`` (C == 1: labels, C > 1: argmax)."""
        pred, true = to_label_map(y_pred, "y_pred"), to_label_map(y, "y")
        check_same_shape(pred, true)
        rows = [self._image_stats(p, t) for p, t in zip(pred, true)]
        return torch.tensor(rows, dtype=torch.float64, device=y_pred.device).reshape(len(rows), len(self.stats))

    def _reduce(self, values: torch.Tensor, name: str, reduction: MetricReduction | str):
        """Reduce the per-image column of ``name``; subclasses override this for derived statistics."""
        i = self.stats.index(name)
        return do_metric_reduction(values[:, i : i + 1].clone(), reduction)

    def aggregate(self, reduction: MetricReduction | str | None = None):
        """Reduce the buffered per-image statistics to ``metric_name`` (a tensor, or a dict for several names)."""
        values = self.get_buffer()
        if not isinstance(values, torch.Tensor):
            raise ValueError(f"{type(self).__name__} has no values to aggregate: call it on a batch first.")
        reduction = reduction or self.reduction
        names = [self.metric_name] if isinstance(self.metric_name, str) else self.metric_name
        results = {n: self._reduce(values, n, reduction) for n in names}
        if isinstance(self.metric_name, str):
            value, not_nans = results[self.metric_name]
            return (value, not_nans) if self.get_not_nans else value
        return {n: (r if self.get_not_nans else r[0]) for n, r in results.items()}
