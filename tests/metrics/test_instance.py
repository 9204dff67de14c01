import math

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.handlers import IgniteMetricHandler
from scipy import ndimage

from medunet.metrics import InstanceMatchingMetric, match_instances


def _brute_force_tp(pred, true, threshold):
    """Oracle: IoU of every pair of masks; above 0.5 each object has at most one partner."""
    tp = 0
    for p in np.unique(pred[pred > 0]):
        for t in np.unique(true[true > 0]):
            a, b = pred == p, true == t
            tp += (a & b).sum() / (a | b).sum() >= threshold
    return tp


def _blobs(rng, shape, n):
    seeds = np.zeros(shape, int)
    seeds[tuple(rng.integers(0, s, n) for s in shape)] = np.arange(1, n + 1)
    grown = ndimage.grey_dilation(seeds, size=(5,) * len(shape))
    return np.where(rng.random(shape) < 0.9, grown, 0)


def test_hand_checked_2d():
    true = np.array([[1, 1, 0, 2, 2], [1, 1, 0, 2, 2], [0, 0, 0, 0, 0]])
    pred = np.array([[7, 7, 0, 0, 0], [7, 0, 0, 0, 9], [0, 0, 0, 0, 9]])
    m = match_instances(pred, true, label_components="none")
    # 7 vs 1: IoU 3/4 -> match; 9 vs 2: IoU 1/5 -> no match
    assert (m.tp, m.fp, m.fn) == (1, 1, 1)
    assert (m.precision, m.recall, m.f1) == (0.5, 0.5, 0.5)
    assert m.pairs.tolist() == [[7, 1]] and m.ious.tolist() == [0.75]


def test_3d_and_semantic_prediction():
    true = np.zeros((4, 5, 6), int)
    true[:2, :2, :2], true[2:, 3:, 4:] = 1, 2
    m = match_instances(true > 0, true)  # default: the prediction is semantic, split into components
    assert (m.tp, m.fp, m.fn, m.f1) == (2, 0, 0, 1.0)
    merged = true > 0
    merged[1:3, 2:4, 2:5] = True  # a bridge joins both objects into one component
    assert match_instances(merged, true).tp == 0


def test_exactly_half_overlaps_stay_one_to_one():
    true = np.array([[1, 1, 2, 2]])
    pred = np.array([[5, 5, 5, 5]])  # IoU 0.5 with both true objects
    m = match_instances(pred, true, label_components="none")
    assert (m.tp, m.fp, m.fn) == (1, 0, 1)


def test_low_threshold_maximises_the_number_of_matches():
    # IoU(p1, t1) = 0.25, IoU(p1, t2) = 0.5, IoU(p2, t2) = 1/3: a greedy best-IoU-first matching finds 1 pair
    true = np.array([[1] * 4 + [2] * 6])
    pred = np.array([[0, 0] + [1] * 6 + [2] * 2])
    m = match_instances(pred, true, iou_threshold=0.25, label_components="none")
    assert m.tp == 2 and sorted(m.pairs.tolist()) == [[1, 1], [2, 2]]


@pytest.mark.parametrize("shape", [(40, 36), (14, 15, 13)])
def test_matches_brute_force_oracle(shape):
    rng = np.random.default_rng(3)
    true = _blobs(rng, shape, 25)
    # prediction: the true objects renumbered, each keeping a random 20-100 % of its voxels, plus spurious blobs
    renumber, keep = rng.permutation(26) + 30, rng.uniform(0.2, 1.0, 26)
    pred = np.where((true > 0) & (rng.random(shape) < keep[true]), renumber[true], 0)
    pred = np.where(pred == 0, _blobs(rng, shape, 4) * (rng.random(shape) < 0.2), pred)
    m = match_instances(pred, true, label_components="none")
    assert m.tp == _brute_force_tp(pred, true, 0.5) > 0
    assert m.tp + m.fp == len(np.unique(pred[pred > 0]))
    assert m.tp + m.fn == len(np.unique(true[true > 0]))


def test_empty_images():
    empty = np.zeros((3, 3), int)
    m = match_instances(empty, empty, label_components="none")
    assert (m.tp, m.fp, m.fn) == (0, 0, 0) and math.isnan(m.f1)
    assert match_instances(np.ones((3, 3), int), empty, label_components="none").precision == 0


def test_pooled_and_per_image_aggregation(from_config):
    true = torch.tensor([[[1, 1, 0, 2, 2]], [[1, 1, 1, 1, 1]]])[:, None]  # (2, 1, 1, 5)
    pred = torch.tensor([[[1, 1, 0, 2, 2]], [[0, 0, 0, 0, 0]]])[:, None]
    pooled = from_config("medunet.metrics.InstanceMatchingMetric", label_components="none")
    counts = pooled(pred, true)
    assert counts[:, :3].tolist() == [[2, 0, 0], [0, 0, 1]]
    assert pooled.aggregate().item() == pytest.approx(2 * 2 / (2 * 2 + 0 + 1))  # F1 of the summed counts
    per_image = InstanceMatchingMetric(label_components="none", pooled=False, metric_name=["f1", "tp", "recall"])
    per_image(pred, true)
    result = per_image.aggregate()
    assert result["f1"].item() == pytest.approx(0.5)  # mean of 1 and 0
    assert result["tp"].item() == 2 and result["recall"].item() == pytest.approx(0.5)
    assert per_image.aggregate(reduction="none")["f1"].flatten().tolist() == [1.0, 0.0]


def test_metric_with_evaluator(evaluate):
    true = torch.zeros(1, 16, 16, dtype=torch.int64)
    true[0, 2:6, 2:6], true[0, 9:14, 8:15] = 1, 2
    semantic = (true > 0).long()
    half = semantic.clone()
    half[0, 9:14, 8:12] = 0  # the second object loses 4/7 of its area
    state = evaluate(InstanceMatchingMetric(metric_name=("f1", "precision")), [(semantic, true), (half, true)])
    assert state.metrics["f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    assert state.metrics["precision"] == pytest.approx(3 / 4)


def test_rejects_bad_threshold():
    with pytest.raises(ValueError, match="iou_threshold"):
        InstanceMatchingMetric(iou_threshold=0)
    with pytest.raises(ValueError, match="iou_threshold"):
        match_instances(np.ones((2, 2)), np.ones((2, 2)), iou_threshold=1.5)


def test_handler_from_bundle_config():
    config = {
        "handler": {
            "_target_": "IgniteMetricHandler",
            "metric_fn": {"_target_": "medunet.metrics.InstanceMatchingMetric", "metric_name": ["precision", "recall"]},
            "output_transform": "$monai.handlers.from_engine(['pred', 'label'])",
        }
    }
    handler = ConfigParser(config).get_parsed_content("handler")
    assert isinstance(handler, IgniteMetricHandler)
    assert isinstance(handler.metric_fn, InstanceMatchingMetric)
    assert handler.metric_fn.metric_name == ["precision", "recall"]
