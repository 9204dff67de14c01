"""Progress lines with throughput and time left, for long training and evaluation runs in a bundle's log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from ignite.engine import Engine, Events
from monai.handlers import from_engine

__all__ = ["ProgressLogger"]


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=round(max(seconds, 0.0))))


class ProgressLogger:
    """Log where an Ignite engine is, how fast it goes and how long is left.

    Every ``interval`` iterations and at the end of each epoch::

        epoch 3/30 iter 20/40 loss 0.4123 | 0.95 s/it | epoch left 0:00:19 | run left 0:07:40

    "run left" is estimated from the mean duration of the epochs completed in this run (validation included), or
    from the iteration speed during the first epoch. A resumed run counts from the epoch it resumed at.

    Args:
        interval: iterations between lines (0: only at epoch ends).
        output_transform: engine output -> loss value to show (None: no loss column).
        name: logger name (the bundle's ``logging.conf`` decides where it goes).
    """

    def __init__(
        self,
        interval: int = 10,
        output_transform: Callable[[Any], Any] | None = from_engine(["loss"], first=True),  # noqa: B008
        name: str = "medunet.progress",
    ) -> None:
        if interval < 0:
            raise ValueError(f"interval must be >= 0, got {interval}.")
        self.interval = interval
        self.output_transform = output_transform
        self.logger = logging.getLogger(name)
        self._run_start = self._epoch_start = 0.0
        self._first_epoch = self._epochs_done = 0

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.EPOCH_STARTED, self._epoch_started)
        if self.interval:
            engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.interval), self._iteration)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._epoch_completed)
        engine.add_event_handler(Events.COMPLETED, self._completed)

    def _started(self, engine: Engine) -> None:
        self._run_start = time.perf_counter()
        self._first_epoch, self._epochs_done = engine.state.epoch, 0

    def _epoch_started(self, engine: Engine) -> None:
        self._epoch_start = time.perf_counter()

    def _position(self, engine: Engine) -> tuple[int, int, int]:
        length = engine.state.epoch_length or 1
        in_epoch = (engine.state.iteration - 1) % length + 1
        return engine.state.epoch, in_epoch, length

    def _loss(self, engine: Engine) -> str:
        if self.output_transform is None or engine.state.output is None:
            return ""
        try:
            value = float(self.output_transform(engine.state.output))
        except (KeyError, TypeError, ValueError, IndexError):
            return ""
        return f" loss {value:.4f}"

    def _iteration(self, engine: Engine) -> None:
        epoch, done, length = self._position(engine)
        per_it = (time.perf_counter() - self._epoch_start) / done
        epoch_left = per_it * (length - done)
        epochs_after = (engine.state.max_epochs or epoch) - epoch
        run_left = epoch_left + epochs_after * self._epoch_seconds(per_it * length)
        self.logger.info(
            f"epoch {epoch}/{engine.state.max_epochs} iter {done}/{length}{self._loss(engine)} | "
            f"{per_it:.2f} s/it | epoch left {_duration(epoch_left)} | run left {_duration(run_left)}"
        )

    def _epoch_seconds(self, fallback: float) -> float:
        if self._epochs_done == 0:
            return fallback
        return (time.perf_counter() - self._run_start) / self._epochs_done

    def _epoch_completed(self, engine: Engine) -> None:
        self._epochs_done = engine.state.epoch - self._first_epoch
        took = time.perf_counter() - self._epoch_start
        left = ((engine.state.max_epochs or engine.state.epoch) - engine.state.epoch) * self._epoch_seconds(took)
        self.logger.info(
            f"epoch {engine.state.epoch}/{engine.state.max_epochs} done in {_duration(took)}{self._loss(engine)} "
            f"| run left {_duration(left)}"
        )

    def _completed(self, engine: Engine) -> None:
        self.logger.info(f"finished after {_duration(time.perf_counter() - self._run_start)}")
