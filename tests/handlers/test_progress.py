import logging

import pytest
from ignite.engine import Engine

from medunet.handlers import ProgressLogger


def test_progress_lines_show_position_loss_and_time_left(caplog):
    engine = Engine(lambda e, b: {"loss": 0.5})
    ProgressLogger(interval=2, output_transform=lambda out: out["loss"]).attach(engine)
    with caplog.at_level(logging.INFO, logger="medunet.progress"):
        engine.run(range(4), max_epochs=2)
    lines = [r.getMessage() for r in caplog.records if r.name == "medunet.progress"]
    assert "epoch 1/2 iter 2/4 loss 0.5000" in lines[0]
    assert "s/it" in lines[0]
    assert "run left" in lines[0]
    assert any(line.startswith("epoch 2/2 done in") for line in lines)
    assert lines[-1].startswith("finished after")
    assert sum("iter" in line for line in lines) == 4


def test_without_loss_and_bad_interval(caplog):
    engine = Engine(lambda e, b: None)
    ProgressLogger(interval=0, output_transform=None).attach(engine)
    with caplog.at_level(logging.INFO, logger="medunet.progress"):
        engine.run(range(2), max_epochs=1)
    assert not any("iter" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match="interval"):
        ProgressLogger(interval=-1)
