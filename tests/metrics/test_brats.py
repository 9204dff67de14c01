import math

import numpy as np
import pytest
import torch
from monai.networks.utils import one_hot

from medunet.metrics import (
    BratsRegionDiceMetric,
    BratsRegionHausdorffDistanceMetric,
    brats_region_dice,
    brats_region_hd95,
    to_brats_regions,
)

# one row of six voxels; MSD labels 0 bg, 1 edema, 2 necrosis, 3 enhancing
TRUE = np.array([[0, 1, 1, 2, 3, 3]])
PRED = np.array([[0, 0, 1, 3, 3, 3]])


def test_regions_from_labels_one_hot_and_masks_agree():
    label = torch.from_numpy(TRUE)[None, None]
    regions = to_brats_regions(label)
    assert regions[0, :, 0].tolist() == [[0, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 1, 1]]
    assert torch.equal(to_brats_regions(one_hot(label, 4)), regions)
    assert torch.equal(to_brats_regions(regions), regions)


def test_regions_reject_other_channel_counts_and_brats_numbering():
    with pytest.raises(ValueError, match="C = 1"):
        to_brats_regions(torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match="MapBratsLabelsToMSD"):
        to_brats_regions(torch.tensor([[[[0, 4]]]]))


def test_region_dice_hand_checked():
    # WT: P 4, T 5, overlap 4 -> 8/9; TC: P 3, T 3, overlap 3 -> 1; ET: P 3, T 2, overlap 2 -> 4/5
    assert brats_region_dice(PRED, TRUE) == pytest.approx({"WT": 8 / 9, "TC": 1.0, "ET": 0.8})


def test_region_dice_empty_regions_follow_brats():
    no_et = np.array([[0, 1, 2]])
    assert brats_region_dice(no_et, no_et)["ET"] == 1.0  # absent from both
    assert brats_region_dice(np.array([[0, 1, 3]]), no_et)["ET"] == 0.0  # false positive only


def test_region_dice_metric_3d_mixed_inputs(from_config):
    true = torch.zeros(2, 1, 4, 5, 6, dtype=torch.int64)
    true[:, :, 1:3, 1:4, 1:5] = 1
    true[:, :, 2, 2, 2:4] = 3
    metric = from_config("medunet.metrics.BratsRegionDiceMetric", reduction="mean_batch", return_with_label=True)
    values = metric(to_brats_regions(true), one_hot(true, 4))  # region masks vs one-hot labels
    assert values.tolist() == [[1.0, 1.0, 1.0]] * 2
    assert metric.aggregate() == {"WT": 1.0, "TC": 1.0, "ET": 1.0}


def test_hd95_hand_checked_with_spacing():
    true = np.zeros((9, 9), int)
    true[2:5, 2:5] = 1
    pred = np.zeros((9, 9), int)
    pred[2:5, 4:7] = 1  # shifted by two columns
    hd = brats_region_hd95(pred, true, spacing=(1.0, 2.0))
    assert hd["WT"] == pytest.approx(4.0)  # 2 voxels x 2 mm
    assert hd["TC"] == 0.0 and hd["ET"] == 0.0  # absent from both


def test_hd95_one_sided_empty_region():
    true = np.zeros((6, 6), int)
    true[1:4, 1:4] = 2
    pred = true.copy()
    pred[2, 2] = 3  # ET predicted, absent from the truth
    assert math.isnan(brats_region_hd95(pred, true)["ET"])
    assert brats_region_hd95(pred, true, empty_value=373.13)["ET"] == pytest.approx(373.13)
    metric = BratsRegionHausdorffDistanceMetric(reduction="mean_batch")
    metric(torch.from_numpy(pred)[None, None], torch.from_numpy(true)[None, None])
    assert metric.aggregate().tolist() == [0.0, 0.0, 0.0]  # the NaN is skipped by the reduction


def test_metrics_with_evaluator(evaluate, from_config):
    items = [(torch.from_numpy(PRED)[None], torch.from_numpy(TRUE)[None]), (torch.from_numpy(TRUE)[None],) * 2]
    state = evaluate(BratsRegionDiceMetric(), items)
    assert state.metrics["metric"] == pytest.approx(((8 / 9 + 1 + 0.8) / 3 + 1) / 2)
    hd = from_config("medunet.metrics.BratsRegionHausdorffDistanceMetric", reduction="mean_batch")
    assert evaluate(hd, items).metric_details["metric"].shape == (2, 3)
