import itertools

import numpy as np
import pytest
import torch

from medunet.inferers.tiling import mirror_index, plan_same_axis, plan_valid_axis, read_window
from medunet.networks import UNet

NUMPY_MODES = {"reflect": "reflect", "symmetric": "symmetric", "replicate": "edge", "circular": "wrap"}


@pytest.mark.parametrize("mode", list(NUMPY_MODES))
@pytest.mark.parametrize("size", [1, 2, 5, 8])
def test_mirror_index_matches_numpy_pad_far_past_the_border(mode, size):
    if mode == "reflect" and size == 1:
        expected = np.zeros(size + 30, dtype=int)  # numpy refuses; a single pixel reflects onto itself
    else:
        expected = np.pad(np.arange(size), (13, 17), mode=NUMPY_MODES[mode])
    np.testing.assert_array_equal(np.asarray(mirror_index(-13, size + 30, size, mode)), expected)


def test_mirror_index_inside_is_a_slice():
    assert mirror_index(2, 3, 5, "reflect") == slice(2, 5)
    assert mirror_index(-1, 3, 5, "constant") is None


def test_read_window_constant_fills_zeros():
    image = torch.arange(1, 7, dtype=torch.float32).reshape(1, 2, 3)
    window = read_window(image, (-1, 1), (4, 3), "constant")
    expected = torch.tensor([[[0, 0, 0], [2, 3, 0], [5, 6, 0], [0, 0, 0]]], dtype=torch.float32)
    torch.testing.assert_close(window, expected)


def paper_axis(size, roi):
    with torch.device("meta"):
        net = UNet(2, 1, 2)  # the 2015 geometry: margin 92, pooling factor 16
    return plan_valid_axis(size, roi, net.margin, net.downsample_factor, net.output_size, net.valid_input_size)


def test_valid_plan_for_the_paper_network_on_1024():
    plan = paper_axis(1024, 572)
    # output tile 388, pooling-aligned step 384: 3 windows is the minimum that covers 1024
    assert plan.out_size == 388
    assert len(plan.starts) == 3
    outputs = [s + 92 for s in plan.starts]
    assert outputs[0] == 0
    assert outputs[-1] + 388 >= 1024
    assert all(o % 16 == 0 for o in outputs)
    assert all(b - a <= 384 for a, b in itertools.pairwise(outputs))
    one = paper_axis(1024, 1212)
    assert one.starts == (-92,)
    assert one.in_size == 1212


def test_valid_plan_shrinks_the_window_for_small_images():
    plan = paper_axis(300, 572)
    assert plan.in_size == 492  # smallest valid input whose output (308) covers 300
    assert plan.starts == (-92,)


def test_valid_plan_rejects_tiles_smaller_than_the_pooling_grid():
    with pytest.raises(ValueError, match="pooling factor 16"):
        paper_axis(1024, 188)  # output tile 4 < 16


@pytest.mark.parametrize(("size", "roi", "overlap", "count"), [(240, 96, 0.5, 4), (155, 96, 0.5, 3), (96, 96, 0.5, 1)])
def test_same_plan_spreads_windows_evenly(size, roi, overlap, count):
    plan = plan_same_axis(size, roi, overlap)
    assert len(plan.starts) == count
    assert plan.starts[0] == 0
    assert plan.starts[-1] == size - roi
    gaps = np.diff(plan.starts)
    if len(gaps):
        assert gaps.max() - gaps.min() <= 1
        assert gaps.max() <= roi * (1 - overlap) + 1


def test_same_plan_centres_images_smaller_than_the_window():
    assert plan_same_axis(10, 16, 0.5).starts == (-3,)
