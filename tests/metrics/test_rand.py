import math

import numpy as np
import pytest
import torch
from skimage.metrics import adapted_rand_error

from medunet.metrics import RandErrorMetric, rand_error


def test_hand_checked_merge():
    # truth: segments {0, 2} and {1, 3}; prediction merges all four pixels
    # ordered pairs: same in truth 2*2 + 2*2 - 4 = 4, in prediction 16 - 4 = 12, in both 4
    r = rand_error(np.array([[1, 1, 1, 1]]), np.array([[1, 2, 1, 2]]), label_components="none")
    assert r.precision == pytest.approx(4 / 12)
    assert r.recall == pytest.approx(1.0)
    assert r.error == pytest.approx(1 - 2 * 4 / (12 + 4))


def test_identical_and_relabelled_segmentations_score_zero():
    true = np.array([[1, 1, 2], [3, 3, 2]])
    assert rand_error(true, true, label_components="none").error == 0
    assert rand_error(true * 7 + 100, true, label_components="none") == (0.0, 1.0, 1.0)


def test_true_background_is_ignored():
    true = np.array([[0, 0, 1, 1]])
    pred = np.array([[5, 6, 2, 2]])  # disagreement only where the truth is background
    assert rand_error(pred, true, label_components="none").error == 0


def test_no_true_foreground_is_nan():
    r = rand_error(np.ones((3, 3), int), np.zeros((3, 3), int), label_components="none")
    assert all(math.isnan(v) for v in r)


@pytest.mark.parametrize("shape", [(9, 13), (5, 6, 7)])
def test_matches_scikit_image(shape):
    rng = np.random.default_rng(0)
    true, pred = rng.integers(0, 6, shape), rng.integers(0, 9, shape)
    are, prec, rec = adapted_rand_error(true, pred)
    r = rand_error(torch.from_numpy(pred), torch.from_numpy(true), label_components="none")
    # scikit-image 0.26 returns precision and recall swapped (its issue #6485); the error is symmetric
    assert r == pytest.approx((are, rec, prec))


def test_label_components_splits_semantic_maps():
    true = np.array([[1, 1, 0, 2, 2]])  # two cells
    semantic = np.array([[1, 1, 0, 1, 1]])  # one class, two blobs
    assert rand_error(semantic, true, label_components="none").error > 0.3  # one segment for both cells
    assert rand_error(semantic, true, label_components="pred").error == 0
    assert rand_error(semantic, true > 0, label_components="both").error == 0


def test_metric_buffers_per_image_scores_and_averages(from_config):
    true = torch.tensor([[[1, 1, 2, 2]], [[1, 1, 1, 1]]])[:, None]  # (2, 1, 1, 4)
    pred = torch.tensor([[[1, 1, 1, 1]], [[1, 1, 1, 1]]])[:, None]
    metric = from_config("medunet.metrics.RandErrorMetric", label_components="none")
    values = metric(pred, true)
    expected_first = rand_error(pred[0, 0], true[0, 0], "none").error
    assert values.shape == (2, 3)
    assert values[:, 0].tolist() == pytest.approx([expected_first, 0.0])
    assert metric.aggregate().item() == pytest.approx(expected_first / 2)
    scores = RandErrorMetric(label_components="none", metric_name=("precision", "recall"))
    scores(pred, true)
    assert set(scores.aggregate()) == {"precision", "recall"}


def test_metric_takes_lists_of_differently_sized_items():
    items = [torch.tensor([[[1, 1, 2]]]), torch.tensor([[[[1, 2], [1, 2]]]])]  # (1, 1, 3) 2D and (1, 1, 2, 2) 3D
    values = RandErrorMetric(label_components="none")(items, items)
    assert values[:, 0].tolist() == [0.0, 0.0]


def test_metric_takes_one_hot_predictions():
    true = torch.tensor([[0, 1, 1, 0, 1]])[None, None]
    logits = torch.stack([1 - true[:, 0], true[:, 0]], dim=1).float()  # (1, 2, 1, 5)
    assert RandErrorMetric(label_components="both")(logits, true)[0, 0] == 0


def test_metric_with_evaluator(evaluate):
    rng = np.random.default_rng(1)
    items = [(torch.from_numpy(rng.integers(0, 2, (1, 12, 10))), torch.from_numpy(rng.integers(0, 4, (1, 12, 10))))]
    items.append((torch.ones(1, 12, 10, dtype=torch.int64), torch.ones(1, 12, 10, dtype=torch.int64)))
    state = evaluate(RandErrorMetric(), items)
    first = rand_error(items[0][0][0], items[0][1][0]).error
    assert state.metrics["metric"] == pytest.approx(first / 2)
    assert state.metric_details["metric"].shape == (2, 3)


def test_rejects_bad_options_and_shapes():
    with pytest.raises(ValueError, match="label_components"):
        RandErrorMetric(label_components="all")
    with pytest.raises(ValueError, match="metric_name"):
        RandErrorMetric(metric_name="f1")
    with pytest.raises(ValueError, match="same shape"):
        rand_error(np.zeros((3, 4), int), np.zeros((4, 3), int))
