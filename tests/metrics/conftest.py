import warnings

import pytest
import torch
from monai.bundle import ConfigParser
from monai.data import DataLoader
from monai.engines import SupervisedEvaluator
from monai.handlers import IgniteMetricHandler, from_engine


@pytest.fixture
def evaluate():
    """Run a MONAI SupervisedEvaluator whose network is the identity (the "image" is the prediction) over items
    ``(pred, label)`` channel-first, with ``metric`` attached through IgniteMetricHandler; returns the engine state."""

    def run(metric, items, batch_size=1):
        data = [{"image": p, "label": y} for p, y in items]
        evaluator = SupervisedEvaluator(
            device=torch.device("cpu"),
            val_data_loader=DataLoader(data, batch_size=batch_size),
            network=torch.nn.Identity(),
            key_val_metric={"metric": IgniteMetricHandler(metric, output_transform=from_engine(["pred", "label"]))},
        )
        with warnings.catch_warnings():  # non-scalar results (per region, dicts) are not compared as "best"
            warnings.filterwarnings("ignore", message="Key metric is not a scalar")
            evaluator.run()
        return evaluator.state

    return run


@pytest.fixture
def from_config():
    """Build an object from a bundle config ``{"_target_": name, **kwargs}``."""

    def build(target, **kwargs):
        return ConfigParser({"obj": {"_target_": target, **kwargs}}).get_parsed_content("obj")

    return build
