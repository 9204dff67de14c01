"""FinalValidationHandler: the trainer's last epoch is validated exactly when ValidationHandler skipped it."""

import pytest
from ignite.engine import Engine
from monai.engines import Evaluator
from monai.handlers import ValidationHandler

from medunet.handlers import FinalValidationHandler


class Validator(Evaluator):
    """Records the epochs it is run for (an Evaluator by type, as MONAI's ValidationHandler demands)."""

    def __init__(self):  # no engine state needed
        self.epochs = []

    def run(self, global_epoch=1, global_iter=None):
        self.epochs.append(global_epoch)


def train(epochs: int, interval: int) -> list[int]:
    validator = Validator()
    trainer = Engine(lambda engine, batch: None)
    ValidationHandler(interval=interval, validator=validator, epoch_level=True).attach(trainer)
    FinalValidationHandler(validator, interval).attach(trainer)
    trainer.run([0, 1], max_epochs=epochs)
    return validator.epochs


@pytest.mark.parametrize(
    ("epochs", "interval", "validated"),
    [(1, 5, [1]), (7, 5, [5, 7]), (10, 5, [5, 10]), (3, 1, [1, 2, 3])],
)
def test_last_epoch_is_validated_once(epochs, interval, validated):
    assert train(epochs, interval) == validated


def test_bad_interval_is_refused():
    with pytest.raises(ValueError, match="interval"):
        FinalValidationHandler(Validator(), 0)
