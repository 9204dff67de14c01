"""Save the whole training state every epoch and continue from it when a run is started again."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint, DiskSaver

from medunet.utils.files import atomic_path

__all__ = ["BestModelSaver", "ResumeHandler", "latest_checkpoint"]

logger = logging.getLogger(__name__)


def _checkpoints(ckpt_dir: str | os.PathLike, prefix: str) -> list[Path]:
    """The ``<prefix>_epoch=<n>.pt`` files in ``ckpt_dir``, oldest epoch first."""
    pattern = re.compile(rf"^{re.escape(prefix)}_epoch=(\d+)\.pt$")
    found = []
    if Path(ckpt_dir).is_dir():
        for path in Path(ckpt_dir).iterdir():
            match = pattern.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def latest_checkpoint(ckpt_dir: str | os.PathLike, prefix: str = "checkpoint") -> Path | None:
    """The ``<prefix>_epoch=<n>.pt`` file of the highest epoch in ``ckpt_dir``, or None."""
    found = _checkpoints(ckpt_dir, prefix)
    return found[-1] if found else None


class ResumeHandler:
    """Make a trainer resumable: save network, optimiser, scheduler and trainer state at every epoch end, and load
    the latest such checkpoint when the trainer starts.

    Re-running an interrupted ``python -m monai.bundle run`` therefore continues at the epoch after the last one
    completed, with the same weights, optimiser moments, learning-rate schedule and epoch counter. The configured
    ``max_epochs`` wins over the stored one, so a finished run can be extended by raising it. Checkpoints are
    written atomically by rank 0 (``checkpoint_epoch=<n>.pt``, the last ``n_saved`` kept); every rank loads.

    Args:
        ckpt_dir: folder of the checkpoints (created).
        objects: what to save besides the trainer, e.g. ``{"network": ..., "optimizer": ..., "lr_scheduler": ...}``;
            DDP-wrapped networks are saved without the wrapper.
        validator: the validation evaluator, whose best key metric (and its epoch) is kept too, so that after a
            resume :class:`BestModelSaver` only replaces the model by a better one than before the interruption.
        prefix: file name prefix.
        n_saved: how many epoch checkpoints to keep.
        map_location: device for loading (default: CPU, then each object moves its state where it lives).
    """

    def __init__(
        self,
        ckpt_dir: str | os.PathLike,
        objects: Mapping[str, Any],
        validator: Engine | None = None,
        prefix: str = "checkpoint",
        n_saved: int = 1,
        map_location: str | torch.device | None = None,
    ) -> None:
        if "trainer" in objects or "validator" in objects:
            raise ValueError("`objects` must not contain 'trainer' or 'validator': the handler adds those itself.")
        self.ckpt_dir = Path(ckpt_dir)
        self.objects = {k: getattr(v, "module", v) if k == "network" else v for k, v in objects.items()}
        if validator is not None:
            self.objects["validator"] = _BestMetric(validator)
        self.prefix, self.n_saved = prefix, n_saved
        self.map_location = map_location or "cpu"

    def attach(self, engine: Engine) -> None:
        to_save = {**self.objects, "trainer": engine}
        saver = Checkpoint(
            to_save,
            DiskSaver(self.ckpt_dir, atomic=True, create_dir=True, require_empty=False),
            filename_prefix=self.prefix,
            n_saved=self.n_saved,
            global_step_transform=lambda eng, _: eng.state.epoch,
            filename_pattern="{filename_prefix}_epoch={global_step}.{ext}",
        )
        engine.add_event_handler(Events.EPOCH_COMPLETED, saver)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._prune)
        engine.add_event_handler(Events.STARTED, self._load, to_save)

    def _prune(self, engine: Engine) -> None:
        """Keep the newest ``n_saved`` checkpoints, also those an earlier (resumed) run wrote."""
        if idist.get_rank() == 0:
            for path in _checkpoints(self.ckpt_dir, self.prefix)[: -self.n_saved]:
                path.unlink(missing_ok=True)

    def _load(self, engine: Engine, to_load: dict[str, Any]) -> None:
        path = latest_checkpoint(self.ckpt_dir, self.prefix)
        if path is None:
            logger.info("no checkpoint in %s: training starts at epoch 1", self.ckpt_dir)
            return
        configured = engine.state.max_epochs
        checkpoint = torch.load(path, map_location=self.map_location, weights_only=True)
        Checkpoint.load_objects(to_load=to_load, checkpoint=checkpoint)
        if configured is not None and engine.state.epoch > configured:
            raise ValueError(
                f"{path} is at epoch {engine.state.epoch}, past the configured {configured} epochs; raise the epoch "
                f"count or remove the checkpoint to start over."
            )
        engine.state.max_epochs = configured
        logger.info("resumed from %s: epoch %d of %s done", path, engine.state.epoch, configured)


class _BestMetric:
    """The best key metric of an evaluator (MONAI workflows track it in ``state``), as a checkpointable object."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def state_dict(self) -> dict[str, float]:
        state = self.engine.state
        return {"best_metric": float(state.best_metric), "best_metric_epoch": int(state.best_metric_epoch)}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        self.engine.state.best_metric = float(state["best_metric"])
        self.engine.state.best_metric_epoch = int(state["best_metric_epoch"])


class BestModelSaver:
    """Write the network's plain state dict (``models/model.pt``) whenever an evaluator's key metric improves.

    MONAI evaluators record the best key metric and its epoch in ``engine.state``; this handler saves when the epoch
    just completed is that best epoch. With :class:`ResumeHandler` given the same evaluator, the best metric survives
    an interrupted run, so a resumed run never replaces the model by a worse one. The file is a bare
    ``state_dict`` (loadable with ``torch.load(..., weights_only=True)``, as MONAI bundles expect), written
    atomically, by rank 0 only; DDP wrappers are removed.

    Args:
        network: the network to save.
        path: the output file.
    """

    def __init__(self, network: torch.nn.Module, path: str | os.PathLike) -> None:
        self.network = getattr(network, "module", network)
        self.path = Path(path)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        if engine.state.best_metric_epoch != engine.state.epoch or idist.get_rank() != 0:
            return
        with atomic_path(self.path) as tmp:
            torch.save(self.network.state_dict(), tmp)
        logger.info(
            "saved %s (best %s %.4f at epoch %d)",
            self.path,
            engine.state.key_metric_name,
            engine.state.best_metric,
            engine.state.epoch,
        )
