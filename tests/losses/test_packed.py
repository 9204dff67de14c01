import pytest
import torch
from monai.bundle import ConfigParser

from medunet.losses import PackedWeightLoss, WeightedCrossEntropyLoss, WeightedDiceCELoss, split_label_weight


def test_split_label_weight():
    target = torch.stack([torch.full((2, 3, 4), 1.0), torch.full((2, 3, 4), 0.5)], dim=1)
    label, weight = split_label_weight(target)
    assert label.shape == weight.shape == (2, 1, 3, 4)
    assert label.unique().tolist() == [1.0]
    assert weight.unique().tolist() == [0.5]
    plain = torch.zeros(2, 1, 3, 4)
    assert split_label_weight(plain) == (plain, None)
    with pytest.raises(ValueError, match=r"\(2, 3, 3, 4\)"):
        split_label_weight(torch.zeros(2, 3, 3, 4))


@pytest.mark.parametrize("loss", [WeightedCrossEntropyLoss(), WeightedDiceCELoss()])
@pytest.mark.parametrize("spatial", [((4, 6), (8, 10)), ((2, 3, 4), (4, 5, 6))])
def test_packed_equals_the_unpacked_call(loss, spatial):
    pred_size, label_size = spatial
    torch.manual_seed(0)
    pred = torch.randn(2, 3, *pred_size)
    label = torch.randint(0, 3, (2, 1, *label_size)).float()
    weight = torch.rand(2, 1, *label_size)
    packed = PackedWeightLoss(loss)
    assert torch.equal(packed(pred, torch.cat([label, weight], dim=1)), loss(pred, label, weight))
    assert torch.equal(packed(pred, label), loss(pred, label))  # label only: weight all ones


def test_rejects_a_non_callable():
    with pytest.raises(TypeError, match="str"):
        PackedWeightLoss("ce")


def test_builds_from_bundle_config():
    config = {
        "loss": {
            "_target_": "medunet.losses.PackedWeightLoss",
            "loss": {"_target_": "medunet.losses.WeightedCrossEntropyLoss", "reduction": "sum"},
        }
    }
    loss = ConfigParser(config).get_parsed_content("loss")
    assert isinstance(loss.loss, WeightedCrossEntropyLoss)
    assert loss.reduction == "sum"
    target = torch.cat([torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)], dim=1)
    assert loss(torch.zeros(1, 2, 2, 2), target).item() == pytest.approx(4 * 0.6931472, rel=1e-6)
