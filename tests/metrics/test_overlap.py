import numpy as np
import pytest
import torch
from monai.metrics import MeanIoU
from monai.networks.utils import one_hot

from medunet.metrics import IoUMetric, PixelErrorMetric, dice, iou, pixel_error

PRED = np.array([[0, 1, 1, 0], [0, 2, 2, 2]])
TRUE = np.array([[0, 1, 1, 1], [0, 2, 2, 0]])


def test_iou_and_dice_hand_checked():
    # class 1: |P| = 2, |T| = 3, overlap 2 -> IoU 2/3, Dice 4/5; class 2: |P| = 3, |T| = 2, overlap 2 -> same
    assert iou(PRED, TRUE) == pytest.approx([2 / 3, 2 / 3])
    assert dice(torch.from_numpy(PRED), torch.from_numpy(TRUE)) == pytest.approx([0.8, 0.8])
    # background: |P| = 3, |T| = 3, overlap 2 -> IoU 2/4
    assert iou(PRED, TRUE, include_background=True)[0] == pytest.approx(0.5)


def test_iou_3d_absent_class():
    true = np.zeros((3, 4, 5), int)
    true[1:, 1:3, :] = 1
    ious = iou(true, true, num_classes=3)
    assert ious[0] == 1.0 and np.isnan(ious[1])  # class 2 absent from the truth: NaN ...
    assert iou(true, true, num_classes=3, ignore_empty=False)[1] == 1.0  # ... or 1 when also absent from pred


def test_iou_metric_label_maps_match_monai_on_one_hot(from_config):
    rng = np.random.default_rng(0)
    pred, true = (torch.from_numpy(rng.integers(0, 3, (2, 1, 7, 9))) for _ in range(2))
    metric = from_config("medunet.metrics.IoUMetric", num_classes=3, reduction="none")
    expected = MeanIoU(include_background=False, reduction="none")(one_hot(pred, 3), one_hot(true, 3))
    assert torch.allclose(metric(pred, true), expected)
    assert torch.allclose(IoUMetric()(one_hot(pred, 3), true), expected)  # mixed: C taken from the one-hot input
    assert metric.aggregate().shape == (2, 2)


def test_iou_metric_needs_num_classes_for_two_label_maps():
    with pytest.raises(ValueError, match="num_classes"):
        IoUMetric()(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 4, 4))


def test_pixel_error():
    assert pixel_error(PRED, TRUE) == pytest.approx(2 / 8)
    assert pixel_error(PRED, TRUE, binary=True) == pytest.approx(2 / 8)
    assert pixel_error(np.array([1, 2]), np.array([2, 1])) == 1.0
    assert pixel_error(np.array([1, 2]), np.array([2, 1]), binary=True) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        pixel_error(PRED, TRUE.T)


def test_pixel_error_metric_3d_one_hot(from_config):
    true = torch.zeros(2, 1, 3, 4, 5, dtype=torch.int64)
    true[0, 0, 0] = 1  # 20 of 60 voxels differ in the first image
    pred = one_hot(torch.zeros_like(true), 2)
    metric = from_config("medunet.metrics.PixelErrorMetric")
    assert metric(pred, true).flatten().tolist() == pytest.approx([1 / 3, 0.0])
    assert metric.aggregate().item() == pytest.approx(1 / 6)


def test_metrics_with_evaluator(evaluate):
    items = [(torch.from_numpy(PRED)[None], torch.from_numpy(TRUE)[None]), (torch.ones(1, 2, 4), torch.ones(1, 2, 4))]
    assert evaluate(PixelErrorMetric(), items).metrics["metric"] == pytest.approx(1 / 8)
    state = evaluate(IoUMetric(num_classes=3, reduction="mean_batch"), items)
    # second image: class 1 everywhere (IoU 1), class 2 absent from the truth (NaN, skipped)
    assert state.metrics["metric"].tolist() == pytest.approx([(2 / 3 + 1) / 2, 2 / 3])
