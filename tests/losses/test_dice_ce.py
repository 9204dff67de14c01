import pytest
import torch
from monai.bundle import ConfigParser
from monai.losses import DiceCELoss

from medunet.losses import WeightedDiceCELoss


@pytest.mark.parametrize("spatial", [(7, 5), (5, 3, 6)])
@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize(("lambda_dice", "lambda_ce"), [(1.0, 1.0), (0.3, 2.0)])
def test_unweighted_equals_monai_dice_ce(spatial, include_background, lambda_dice, lambda_ce):
    torch.manual_seed(0)
    pred = torch.randn(2, 3, *spatial)
    label = torch.randint(0, 3, (2, 1, *spatial))
    ours = WeightedDiceCELoss(include_background=include_background, lambda_dice=lambda_dice, lambda_ce=lambda_ce)
    monai = DiceCELoss(
        include_background=include_background,
        to_onehot_y=True,
        softmax=True,
        lambda_dice=lambda_dice,
        lambda_ce=lambda_ce,
    )
    assert torch.allclose(ours(pred, label), monai(pred, label), atol=1e-6)


@pytest.mark.parametrize("spatial", [(8, 5), (6, 3, 4)])
def test_weight_zero_voxels_leave_dice_and_ce(spatial):
    # annotated: the first half of axis 0. The loss must equal MONAI's DiceCE on that half alone.
    torch.manual_seed(1)
    pred = torch.randn(2, 3, *spatial, requires_grad=True)
    label = torch.randint(0, 3, (2, 1, *spatial))
    weight = torch.zeros(2, 1, *spatial)
    half = spatial[0] // 2
    weight[:, :, :half] = 1.0
    loss = WeightedDiceCELoss()(pred, label, weight)
    expected = DiceCELoss(to_onehot_y=True, softmax=True)(pred[:, :, :half], label[:, :, :half])
    assert torch.allclose(loss, expected, atol=1e-6)
    loss.backward()
    assert pred.grad[:, :, half:].abs().max() == 0
    assert pred.grad[:, :, :half].abs().max() > 0


def test_weight_values_scale_only_the_cross_entropy():
    torch.manual_seed(2)
    pred = torch.randn(1, 2, 6, 6)
    label = torch.randint(0, 2, (1, 1, 6, 6))
    weight = torch.rand(1, 1, 6, 6) + 0.5
    dice_only = WeightedDiceCELoss(lambda_ce=0.0)
    assert torch.allclose(dice_only(pred, label, weight), dice_only(pred, label), atol=1e-7)
    ce_only = WeightedDiceCELoss(lambda_dice=0.0)
    ce = -torch.log_softmax(pred, 1).gather(1, label)
    assert torch.allclose(ce_only(pred, label, weight), (weight * ce).sum() / weight.sum(), atol=1e-6)


def test_sum_reduction():
    torch.manual_seed(3)
    pred = torch.randn(2, 3, 4, 4)
    label = torch.randint(0, 3, (2, 1, 4, 4))
    monai = DiceCELoss(to_onehot_y=True, softmax=True, reduction="sum")
    assert torch.allclose(WeightedDiceCELoss(reduction="sum")(pred, label), monai(pred, label), rtol=1e-5)


def test_crops_labels_of_a_valid_network():
    torch.manual_seed(4)
    pred = torch.randn(1, 2, 4, 6, 2)
    label = torch.randint(0, 2, (1, 1, 10, 8, 4))
    weight = torch.rand(1, 1, 10, 8, 4)
    centre = (slice(None), slice(None), slice(3, 7), slice(1, 7), slice(1, 3))
    loss = WeightedDiceCELoss()
    assert torch.equal(loss(pred, label, weight), loss(pred, label[centre], weight[centre]))
    with pytest.raises(ValueError, match="differs by 3"):
        loss(pred, label[:, :, :7], weight)


def test_bf16_autocast_gives_float32():
    pred = torch.randn(1, 2, 4, 4).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = WeightedDiceCELoss()(pred, torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4))
    assert loss.dtype == torch.float32
    assert torch.allclose(loss, WeightedDiceCELoss()(pred.float(), torch.zeros(1, 1, 4, 4)), atol=1e-6)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="reduction"):
        WeightedDiceCELoss(reduction="none")
    with pytest.raises(ValueError, match="-1"):
        WeightedDiceCELoss(lambda_dice=-1)
    with pytest.raises(ValueError, match="at least 2 class channels"):
        WeightedDiceCELoss()(torch.randn(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))


def test_builds_from_bundle_config():
    config = {
        "loss": {
            "_target_": "medunet.losses.WeightedDiceCELoss",
            "include_background": False,
            "lambda_ce": 0.5,
            "batch": True,
        }
    }
    loss = ConfigParser(config).get_parsed_content("loss")
    assert isinstance(loss, WeightedDiceCELoss)
    assert (loss.lambda_ce, loss.dice.include_background, loss.dice.batch) == (0.5, False, True)
