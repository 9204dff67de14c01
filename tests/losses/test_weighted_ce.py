import math

import pytest
import torch
import torch.nn.functional as F
from monai.bundle import ConfigParser
from monai.data import MetaTensor

from medunet.losses import WeightedCrossEntropyLoss, crop_to_prediction


def test_hand_checked_two_pixels():
    # logits (0, ln 3): p = (1/4, 3/4). Pixel 0 is class 1 with weight 2, pixel 1 class 0 with weight 1.
    pred = torch.tensor([[0.0, 0.0], [math.log(3), math.log(3)]]).reshape(1, 2, 1, 2)
    label = torch.tensor([1, 0]).reshape(1, 1, 1, 2)
    weight = torch.tensor([2.0, 1.0]).reshape(1, 1, 1, 2)
    e = 2 * -math.log(3 / 4) + -math.log(1 / 4)
    assert WeightedCrossEntropyLoss("sum")(pred, label, weight).item() == pytest.approx(e, rel=1e-6)
    assert WeightedCrossEntropyLoss("mean")(pred, label, weight).item() == pytest.approx(e / 3, rel=1e-6)
    none = WeightedCrossEntropyLoss("none")(pred, label, weight)
    assert none.shape == (1, 1, 1, 2)
    assert none.flatten().tolist() == pytest.approx([2 * -math.log(3 / 4), -math.log(1 / 4)], rel=1e-6)


@pytest.mark.parametrize("spatial", [(5, 7), (3, 5, 4)])
@pytest.mark.parametrize("label_layout", ["channel", "no_channel", "float"])
def test_unweighted_equals_torch_cross_entropy(spatial, label_layout):
    torch.manual_seed(0)
    pred = torch.randn(2, 4, *spatial)
    label = torch.randint(0, 4, (2, *spatial))
    expected = F.cross_entropy(pred, label)
    given = {"channel": label[:, None], "no_channel": label, "float": label[:, None].float()}[label_layout]
    assert torch.allclose(WeightedCrossEntropyLoss()(pred, given), expected, atol=1e-6)
    assert torch.allclose(WeightedCrossEntropyLoss("sum")(pred, given), expected * label.numel(), rtol=1e-5)


@pytest.mark.parametrize("spatial", [(6, 5), (4, 5, 3)])
def test_weight_zero_pixels_are_ignored(spatial):
    torch.manual_seed(1)
    pred = torch.randn(2, 3, *spatial, requires_grad=True)
    label = torch.randint(0, 3, (2, 1, *spatial))
    weight = (torch.rand(2, 1, *spatial) > 0.5).float()
    weight[0, 0, 0] = 1.0  # at least one labelled pixel
    loss = WeightedCrossEntropyLoss()(pred, label, weight)
    # the mean runs over the labelled pixels only: torch's ignore_index on the same pixels
    ignored = torch.where(weight[:, 0] > 0, label[:, 0], torch.full_like(label[:, 0], -100))
    assert torch.allclose(loss, F.cross_entropy(pred, ignored, ignore_index=-100), atol=1e-6)
    loss.backward()
    unlabeled = (weight == 0).expand_as(pred)
    assert pred.grad[unlabeled].abs().max() == 0
    assert pred.grad[~unlabeled].abs().max() > 0
    # whatever the prediction and label are on unlabeled pixels, the loss is the same
    other_pred = torch.where(unlabeled, torch.randn_like(pred) * 100, pred.detach())
    other_label = torch.where(weight > 0, label, (label + 1) % 3)
    assert torch.allclose(WeightedCrossEntropyLoss()(other_pred, other_label, weight), loss, atol=1e-6)


def test_weights_scale_pixels_in_the_mean():
    torch.manual_seed(2)
    pred = torch.randn(1, 2, 3, 3)
    label = torch.randint(0, 2, (1, 1, 3, 3))
    weight = torch.rand(1, 1, 3, 3) * 5
    ce = F.cross_entropy(pred, label[:, 0], reduction="none")[:, None]
    expected = (weight * ce).sum() / weight.sum()
    assert torch.allclose(WeightedCrossEntropyLoss()(pred, label, weight), expected, atol=1e-6)
    # scaling every weight by a constant does not change the mean, only the sum
    assert torch.allclose(WeightedCrossEntropyLoss()(pred, label, 7 * weight), expected, atol=1e-6)
    assert torch.allclose(WeightedCrossEntropyLoss("sum")(pred, label, 7 * weight), 7 * (weight * ce).sum(), rtol=1e-5)


def test_all_zero_weights_give_zero_with_a_gradient():
    pred = torch.randn(1, 2, 4, 4, requires_grad=True)
    loss = WeightedCrossEntropyLoss()(pred, torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))
    assert loss.item() == 0.0
    assert loss.requires_grad
    loss.backward()
    assert torch.equal(pred.grad, torch.zeros_like(pred))


@pytest.mark.parametrize(("pred_size", "label_size"), [((4, 6), (12, 8)), ((3, 5, 1), (7, 5, 9))])
def test_labels_and_weights_are_centre_cropped_to_the_prediction(pred_size, label_size):
    torch.manual_seed(3)
    pred = torch.randn(2, 3, *pred_size)
    label = torch.randint(0, 3, (2, 1, *label_size))
    weight = torch.rand(2, 1, *label_size)
    window = tuple(slice((n - m) // 2, (n - m) // 2 + m) for n, m in zip(label_size, pred_size))
    cropped = (slice(None), slice(None), *window)
    expected = WeightedCrossEntropyLoss()(pred, label[cropped], weight[cropped])
    assert torch.equal(WeightedCrossEntropyLoss()(pred, label, weight), expected)
    assert torch.equal(crop_to_prediction(pred, label), label[cropped])


def test_crop_keeps_the_centre_values():
    pred = torch.zeros(1, 2, 2, 2)
    label = torch.arange(36).reshape(1, 1, 6, 6)
    assert crop_to_prediction(pred, label)[0, 0].tolist() == [[14, 15], [20, 21]]
    same = label[:, :, 2:4, 2:4]
    assert crop_to_prediction(pred, same) is same  # nothing to crop


@pytest.mark.parametrize(
    ("label_shape", "message"),
    [
        ((1, 1, 9, 8), "axis 0 differs by 3"),  # odd margin
        ((1, 1, 4, 8), "differs by -2"),  # label smaller than the prediction
        ((1, 1, 8, 8, 8), r"got label shape \(1, 1, 8, 8, 8\)"),  # 3D label for a 2D prediction
        ((2, 1, 8, 8), r"\(B, 1, \*spatial\)"),  # batch mismatch
        ((1, 2, 8, 8), r"\(B, 1, \*spatial\)"),  # two channels
    ],
)
def test_bad_label_shapes_raise_with_both_shapes(label_shape, message):
    pred = torch.zeros(1, 2, 6, 6)
    with pytest.raises(ValueError, match=message) as err:
        WeightedCrossEntropyLoss()(pred, torch.zeros(label_shape))
    assert "(1, 2, 6, 6)" in str(err.value)


def test_bad_values_raise():
    pred = torch.zeros(1, 3, 2, 2)
    ok = torch.zeros(1, 1, 2, 2)
    with pytest.raises(ValueError, match=r"\[0, 3\).*got values in \[0.0, 3.0\]"):
        WeightedCrossEntropyLoss()(pred, torch.tensor([0.0, 1, 2, 3]).reshape(1, 1, 2, 2))
    with pytest.raises(ValueError, match="non-integer"):
        WeightedCrossEntropyLoss()(pred, ok + 0.5)
    with pytest.raises(ValueError, match=r"non-negative.*-1"):
        WeightedCrossEntropyLoss()(pred, ok, -torch.ones(1, 1, 2, 2))
    # unchecked: the caller vouches for the data
    assert torch.isfinite(WeightedCrossEntropyLoss(check_values=False)(pred, ok, -torch.ones(1, 1, 2, 2)))
    with pytest.raises(ValueError, match="reduction"):
        WeightedCrossEntropyLoss("max")
    with pytest.raises(ValueError, match=r"\(B, C, \*spatial\)"):
        WeightedCrossEntropyLoss()(torch.zeros(3, 2), torch.zeros(3, 2))


def test_stable_for_huge_logits():
    pred = torch.tensor([[1e4, -1e4], [-1e4, 1e4]]).reshape(1, 2, 1, 2)
    label = torch.tensor([0, 0]).reshape(1, 1, 1, 2)
    loss = WeightedCrossEntropyLoss("none")(pred, label)
    assert loss.flatten().tolist() == [0.0, 2e4]


def test_bf16_autocast_computes_in_float32():
    torch.manual_seed(4)
    conv = torch.nn.Conv2d(1, 3, 3)
    x = torch.randn(2, 1, 9, 9)
    label = torch.randint(0, 3, (2, 1, 9, 9))
    weight = torch.rand(2, 1, 9, 9)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pred = conv(x)
        loss = WeightedCrossEntropyLoss()(pred, label, weight)
    assert pred.dtype == torch.bfloat16
    assert loss.dtype == torch.float32
    expected = WeightedCrossEntropyLoss()(pred.float(), label, weight)
    assert torch.allclose(loss, expected, atol=1e-6)
    loss.backward()
    assert torch.isfinite(conv.weight.grad).all()


def test_metatensor_inputs_give_a_plain_tensor():
    pred = MetaTensor(torch.randn(1, 2, 4, 4), meta={"filename_or_obj": "a.nii"})
    loss = WeightedCrossEntropyLoss()(pred, MetaTensor(torch.zeros(1, 1, 4, 4)), MetaTensor(torch.ones(1, 1, 4, 4)))
    assert type(loss) is torch.Tensor


def test_builds_from_bundle_config():
    parser = ConfigParser({"loss": {"_target_": "medunet.losses.WeightedCrossEntropyLoss", "reduction": "sum"}})
    loss = parser.get_parsed_content("loss")
    assert isinstance(loss, WeightedCrossEntropyLoss)
    assert loss.reduction == "sum"


def test_crop_rejects_a_different_number_of_spatial_axes():
    with pytest.raises(ValueError, match="2 spatial axes"):
        crop_to_prediction(torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 6, 6, 6), "weight")
