"""Validate once more when training ends between two validation epochs, so every run leaves a ``model.pt``.

MONAI's ``ValidationHandler(interval=k)`` validates after epochs k, 2k, ...; a run of ``num_epochs`` that is not a
multiple of k ends on epochs it never validated (and a run shorter than k never validates at all, so the best-model
saver writes nothing). :class:`FinalValidationHandler` runs the validator at ``COMPLETED`` in exactly that case, as
nnU-Net validates at the end of training whatever its schedule.
"""

from __future__ import annotations

from typing import Any

from ignite.engine import Engine, Events

__all__ = ["FinalValidationHandler"]


class FinalValidationHandler:
    """Run ``validator`` when the trainer completes on an epoch that ``ValidationHandler(interval)`` skipped.

    Args:
        validator: the evaluator (a MONAI ``Evaluator``) that the trainer's ``ValidationHandler`` runs.
        interval: that handler's epoch interval.
    """

    def __init__(self, validator: Any, interval: int) -> None:
        if interval < 1:
            raise ValueError(f"interval must be >= 1, got {interval!r}.")
        self.validator = validator
        self.interval = interval

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        epoch = engine.state.epoch
        if epoch > 0 and epoch % self.interval != 0:
            self.validator.run(epoch)
