"""Per-case metric tables and a summary figure at the end of an evaluation: CSV files and a PNG box plot."""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from ignite.engine import Engine, Events

from medunet.utils.files import atomic_path

__all__ = ["MetricsReport", "case_names_from_batch"]

logger = logging.getLogger(__name__)


def _item_name(item: Mapping, key: str) -> str:
    for name_key in ("case", "name"):
        if item.get(name_key):
            return str(item[name_key])
    source = (getattr(item.get(key), "meta", {}) or {}).get("filename_or_obj", "")
    source = source[0] if isinstance(source, (list, tuple)) else source
    return Path(str(source)).name.split(".")[0]


def case_names_from_batch(batch: Any, key: str = "image") -> list[str]:
    """Case names of a batch, decollated (a list of dicts, MONAI's state after an iteration) or collated: the
    ``case``/``name`` entries, else the file names of ``key`` without suffix."""
    if isinstance(batch, (list, tuple)):
        return [_item_name(item, key) for item in batch]
    for name_key in ("case", "name"):
        if name_key in batch:
            names = batch[name_key]
            return [str(n) for n in (names if isinstance(names, (list, tuple)) else [names])]
    files = (getattr(batch[key], "meta", {}) or {}).get("filename_or_obj", [])
    files = files if isinstance(files, (list, tuple)) else [files]
    return [Path(str(f)).name.split(".")[0] for f in files]


class MetricsReport:
    """Write ``metrics.csv`` (one row per case, one column per metric and class), ``summary.csv`` (mean, std,
    median, min, max, count of each column) and ``metrics.png`` (a box plot per column) when an evaluator completes.

    It reads the per-case values that MONAI metric handlers keep in ``engine.state.metric_details`` (they do with
    ``save_details=True``, their default) and names the rows from each batch (:func:`case_names_from_batch`).

    Args:
        output_dir: folder of the three files (created).
        columns: metric name -> column names, one per class channel of that metric's details, e.g.
            ``{"val_dice": ["WT_dice", "TC_dice", "ET_dice"]}``. A metric with one value per case may give one name.
        name_transform: collated batch -> case names (default :func:`case_names_from_batch`).
        title: title of the figure.
        plot_columns: the columns drawn in ``metrics.png`` (default: all), e.g. the scores in [0, 1] without the
            object counts beside them; the CSV files keep every column.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        columns: Mapping[str, Sequence[str]],
        name_transform: Callable[[Any], list[str]] = case_names_from_batch,
        title: str = "",
        plot_columns: Sequence[str] | None = None,
    ) -> None:
        if not columns:
            raise ValueError("columns must name at least one metric.")
        known = [c for names in columns.values() for c in names]
        unknown = sorted(set(plot_columns or ()) - set(known))
        if unknown or (plot_columns is not None and not plot_columns):
            raise ValueError(f"plot_columns must name one or more of the columns {known}, got {plot_columns!r}.")
        self.plot_columns = known if plot_columns is None else list(plot_columns)
        self.output_dir = Path(output_dir)
        self.columns = {k: list(v) for k, v in columns.items()}
        self.name_transform = name_transform
        self.title = title
        self.names: list[str] = []
        self.rows: list[dict[str, float]] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._collect_names)
        engine.add_event_handler(Events.COMPLETED, self._write)

    def _reset(self, engine: Engine) -> None:
        self.names, self.rows = [], []

    def _collect_names(self, engine: Engine) -> None:
        self.names += self.name_transform(engine.state.batch)

    def _table(self, engine: Engine) -> list[dict[str, float]]:
        details = getattr(engine.state, "metric_details", {}) or {}
        table: list[dict[str, float]] = [{} for _ in self.names]
        for metric, names in self.columns.items():
            if metric not in details:
                raise KeyError(f"metric {metric!r} has no per-case details; known: {sorted(details)}.")
            values = details[metric]
            values = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
            values = values.reshape(len(values), -1)
            if len(values) != len(self.names) or values.shape[1] != len(names):
                raise ValueError(
                    f"metric {metric!r} has details of shape {values.shape}, expected ({len(self.names)}, {len(names)})"
                    f" for columns {names}."
                )
            for row, case in zip(table, values):
                row.update({n: float(v) for n, v in zip(names, case)})
        return table

    def _write(self, engine: Engine) -> None:
        self.rows = self._table(engine)
        columns = [c for names in self.columns.values() for c in names]
        self._write_csv(
            self.output_dir / "metrics.csv",
            ["case", *columns],
            [[name, *(row[c] for c in columns)] for name, row in zip(self.names, self.rows)],
        )
        summary = []
        for c in columns:
            v = np.array([row[c] for row in self.rows], dtype=float)
            v = v[np.isfinite(v)]
            stats = (v.mean(), v.std(), np.median(v), v.min(), v.max()) if len(v) else (math.nan,) * 5
            summary.append([c, *stats, len(v)])
        self._write_csv(
            self.output_dir / "summary.csv", ["metric", "mean", "std", "median", "min", "max", "count"], summary
        )
        self._plot()
        logger.info("evaluation report: %s", ", ".join(f"{c} {s[1]:.4f}" for c, s in zip(columns, summary)))

    @staticmethod
    def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(header)
        writer.writerows([[f"{v:.6g}" if isinstance(v, float) else v for v in r] for r in rows])
        with atomic_path(path) as tmp:
            tmp.write_text(text.getvalue())
        logger.info("wrote %s", path)

    def _plot(self) -> None:
        groups = [(m, [n for n in names if n in self.plot_columns]) for m, names in self.columns.items()]
        groups = [(m, names) for m, names in groups if names]
        count = sum(len(names) for _, names in groups)
        fig, axes = plt.subplots(1, len(groups), figsize=(1.6 + 1.4 * count, 3.6), squeeze=False)
        for ax, (metric, names) in zip(axes[0], groups):
            data = [[v for v in (row[n] for row in self.rows) if math.isfinite(v)] for n in names]
            ax.boxplot(data, showmeans=True)
            for i, values in enumerate(data, start=1):
                ax.scatter(np.full(len(values), i) + np.linspace(-0.08, 0.08, len(values)), values, s=9, alpha=0.6)
            ax.set_xticks(range(1, len(names) + 1), names, fontsize=8)
            ax.set_title(metric, fontsize=9)
            ax.grid(axis="y", alpha=0.3)
        fig.suptitle(f"{self.title} ({len(self.rows)} cases)".strip(), fontsize=10)
        fig.tight_layout()
        with atomic_path(self.output_dir / "metrics.png") as tmp:
            fig.savefig(tmp, dpi=90, format="png")
        plt.close(fig)
