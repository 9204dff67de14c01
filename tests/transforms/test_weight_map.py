import math
import time

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.data import MetaTensor
from monai.transforms import Compose, Rand2DElasticd

from medunet.transforms import (
    UNetWeightMap,
    UNetWeightMapd,
    class_weight_map,
    nearest_instance_distances,
    unet_weight_map,
)
from medunet.transforms.weight_map import NEGLIGIBLE
from tests.transforms.synthetic import naive_separation_term, slabs, touching_cells


def term(s, w0=10.0, sigma=5.0):
    return w0 * math.exp(-(s**2) / (2 * sigma**2))


def two_slabs(shape=(7, 21)):
    """Cell 1 on columns 0..4, cell 2 on columns 10..14 of the last axis: every gap pixel has d1 + d2 = 6."""
    return slabs(shape, {1: (0, 5), 2: (10, 15)})


# --- hand-checked cases -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(7, 21), (3, 5, 21)])
def test_two_cells_gap_and_outside(shape):
    w = unet_weight_map(two_slabs(shape), class_weights=None)
    assert w.dtype == np.float32 and w.shape == shape
    np.testing.assert_allclose(w[..., 5:10], 1 + term(6), rtol=1e-6)  # gap: d1 + d2 = 6 everywhere
    for column in range(15, 21):  # beyond cell 2: d1 = c - 14, d2 = c - 4
        np.testing.assert_allclose(w[..., column], 1 + term(2 * column - 18), rtol=1e-6, atol=NEGLIGIBLE)
    np.testing.assert_array_equal(w[..., 0:5], 1)  # the term is evaluated on background only
    np.testing.assert_array_equal(w[..., 10:15], 1)


def test_spacing_scales_distances_3d():
    labels = np.zeros((21, 4, 3), np.int32)  # slabs along axis 0, 5-voxel gap
    labels[0:5] = 1
    labels[10:15] = 2
    w = unet_weight_map(labels, class_weights=None, spacing=(2.0, 1.0, 1.0), sigma=10.0)
    np.testing.assert_allclose(w[5:10], 1 + term(12.0, sigma=10.0), rtol=1e-6)  # 6 voxels * 2 units
    w_scalar = unet_weight_map(labels, class_weights=None, spacing=2.0, sigma=10.0)
    np.testing.assert_array_equal(w, w_scalar)


def test_parameters_w0_sigma():
    labels = two_slabs()
    w = unet_weight_map(labels, w0=3.0, sigma=2.0, class_weights=None)
    np.testing.assert_allclose(w[:, 7], 1 + term(6, w0=3.0, sigma=2.0), rtol=1e-6)
    np.testing.assert_array_equal(unet_weight_map(labels, w0=0.0, class_weights=None), 1)


# --- equal to the naive definition --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "count", "radius", "sigma", "spacing"),
    [
        ((96, 83), 25, 12, 5.0, None),
        ((96, 83), 25, 12, 2.0, None),  # reach 9.6 px: crops much smaller than the image
        ((64, 71), 12, 14, 3.0, (1.0, 2.5)),
        ((23, 30, 27), 10, 7, 3.0, None),
        ((17, 30, 27), 10, 7, 4.0, (2.0, 1.0, 0.7)),
    ],
)
def test_matches_naive_definition(shape, count, radius, sigma, spacing):
    labels = touching_cells(shape, count, radius, seed=sum(shape))
    fast = unet_weight_map(labels, sigma=sigma, spacing=spacing, class_weights=None) - 1.0
    oracle = naive_separation_term(labels, sigma=sigma, spacing=spacing)
    assert oracle.max() > 5  # the case has close cells
    assert np.abs(fast - oracle).max() < 1e-4


def test_non_contiguous_and_huge_ids():
    labels = touching_cells((40, 37), 8, 9, seed=3)
    expected = unet_weight_map(labels)
    sparse = np.where(labels > 0, labels * 1000 + 7, 0)
    np.testing.assert_array_equal(unet_weight_map(sparse), expected)
    huge = np.where(labels > 0, labels.astype(np.int64) + 10**12, 0)  # ids far above the pixel count: renumbered
    np.testing.assert_array_equal(unet_weight_map(huge), expected)
    d1, d2 = nearest_instance_distances(labels.astype(np.int64) + 10**12)  # no background at all
    np.testing.assert_array_equal(d1, 0)
    np.testing.assert_array_equal(d2, nearest_instance_distances(labels + 1)[1])


# --- edge cases -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(9, 11), (5, 6, 7)])
def test_no_object_is_class_term_only(shape):
    labels = np.zeros(shape, np.int64)
    np.testing.assert_array_equal(unet_weight_map(labels), 1)  # one class present: balanced weight 1
    np.testing.assert_array_equal(unet_weight_map(labels, class_weights=(0.3, 2.0)), np.float32(0.3))


@pytest.mark.parametrize("shape", [(9, 11), (5, 6, 7)])
def test_single_object_has_no_separation_term(shape):
    labels = np.zeros(shape, np.int64)
    labels[1:3, 2:5] = 4
    w = unet_weight_map(labels)
    np.testing.assert_array_equal(w, class_weight_map(labels > 0))
    d1, d2 = nearest_instance_distances(labels)
    assert np.all(np.isinf(d2)) and d1[1, 2].max() == 0


# --- class weights --------------------------------------------------------------------------------------------------


def test_balanced_class_weights_by_hand():
    classes = np.zeros((4, 4), np.int64)
    classes[0] = 1  # 4 foreground pixels, 12 background: N / (K n_k) = 16 / 8, 16 / 24
    w = class_weight_map(classes)
    np.testing.assert_allclose(w[0], 2.0)
    np.testing.assert_allclose(w[1:], 2.0 / 3.0)
    assert w.mean() == pytest.approx(1.0)
    assert w[classes == 1].sum() == pytest.approx(w[classes == 0].sum())


def test_balanced_over_three_classes_skips_absent_ids():
    classes = np.array([[0, 0, 0, 0, 0, 2], [0, 0, 0, 0, 2, 2]])  # class 1 absent: K = 2
    w = class_weight_map(classes)
    np.testing.assert_allclose(w[classes == 0], 12 / (2 * 9))
    np.testing.assert_allclose(w[classes == 2], 12 / (2 * 3))


def test_explicit_and_no_class_weights():
    labels = two_slabs()
    w = unet_weight_map(labels, class_weights=(0.5, 3.0))
    np.testing.assert_allclose(w[:, 0:5], 3.0)
    np.testing.assert_allclose(w[:, 7], 0.5 + term(6), rtol=1e-6)
    np.testing.assert_array_equal(class_weight_map(labels, None), 1)


def test_weight_map_balances_over_given_classes():
    labels = two_slabs()
    classes = (labels > 0).astype(np.int64)
    classes[:, 4] = classes[:, 10] = 2
    w = unet_weight_map(labels, classes=classes, class_weights=(1.0, 2.0, 5.0))
    np.testing.assert_allclose(w[:, 4], 5.0)
    np.testing.assert_allclose(w[:, 0], 2.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(class_weights="inverse"), "'balanced'"),
        (dict(class_weights=(1.0,)), "class id 1"),
        (dict(class_weights=(1.0, -2.0)), "non-negative"),
        (dict(sigma=0.0), "sigma"),
        (dict(w0=-1.0), "w0"),
        (dict(spacing=(1.0, 1.0, 1.0)), "2 positive"),
        (dict(spacing=(1.0, 0.0)), "2 positive"),
        (dict(classes=np.zeros((3, 3), np.int64)), "shape"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        unet_weight_map(two_slabs(), **kwargs)


@pytest.mark.parametrize(
    ("labels", "error", "match"),
    [
        (np.zeros((3, 4, 5, 6)), ValueError, "2D"),
        (np.full((4, 4), 1.5), ValueError, "whole-number"),
        (np.full((4, 4), np.nan), ValueError, "whole-number"),
        (-np.ones((4, 4)), ValueError, "non-negative"),
        (np.full((4, 4), "a"), TypeError, "integer labels"),
    ],
)
def test_bad_labels(labels, error, match):
    with pytest.raises(error, match=match):
        unet_weight_map(labels)


def test_nearest_instance_distances_reach():
    labels = two_slabs((3, 30))
    d1, d2 = nearest_instance_distances(labels)
    np.testing.assert_array_equal(d1[0, :8], [0, 0, 0, 0, 0, 1, 2, 3])
    np.testing.assert_array_equal(d2[0, :3], [10, 9, 8])  # inside cell 1: distance to cell 2
    c1, c2 = nearest_instance_distances(labels, max_distance=7.5)
    np.testing.assert_array_equal(c1, np.where(d1 <= 7.5, d1, np.inf))
    np.testing.assert_array_equal(c2, np.where(d2 <= 7.5, d2, np.inf))
    with pytest.raises(ValueError, match="max_distance"):
        nearest_instance_distances(labels, max_distance=0)


# --- transforms -----------------------------------------------------------------------------------------------------


def test_array_transform_kinds_and_layouts():
    labels = two_slabs()
    expected = unet_weight_map(labels)
    transform = UNetWeightMap()
    out = transform(labels)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)
    out = transform(torch.as_tensor(labels[None]))
    assert type(out) is torch.Tensor and out.dtype == torch.float32 and out.shape == (1, *labels.shape)
    np.testing.assert_array_equal(out[0].numpy(), expected)
    meta = MetaTensor(
        torch.as_tensor(labels[None], dtype=torch.float32), affine=torch.diag(torch.tensor([2.0, 3, 1, 1]))
    )
    out = transform(meta)
    assert isinstance(out, MetaTensor) and out.dtype == torch.float32
    np.testing.assert_array_equal(out.affine, meta.affine)
    np.testing.assert_array_equal(out[0].numpy(), expected)


def test_array_transform_3d_channel_first_with_classes():
    labels = two_slabs((3, 4, 21))
    classes = (labels > 0).astype(np.uint8)
    out = UNetWeightMap(class_weights=(1.0, 4.0))(labels[None], classes[None])
    assert out.shape == (1, 3, 4, 21)
    np.testing.assert_allclose(out[0, ..., 0], 4.0)
    with pytest.raises(ValueError, match="sigma"):
        UNetWeightMap(sigma=-1)
    with pytest.raises(ValueError, match="'balanced'"):
        UNetWeightMap(class_weights="inverse")


def test_dict_transform_keys_and_class_key():
    labels = two_slabs()
    target = (labels > 0).astype(np.uint8)
    data = {"label": labels[None], "target": target[None], "other": 1}
    out = UNetWeightMapd("label", class_key="target", class_weights=(1.0, 2.0))(data)
    assert set(out) == {"label", "target", "other", "weight"} and out["label"] is data["label"]
    np.testing.assert_allclose(out["weight"][0, :, 0], 2.0)
    two = UNetWeightMapd(["a", "b"], weight_key=["wa", "wb"])({"a": labels, "b": labels.T})
    np.testing.assert_array_equal(two["wb"], unet_weight_map(labels.T))
    assert "weight" not in UNetWeightMapd("label", allow_missing_keys=True)({"x": 1})
    with pytest.raises(ValueError, match="own `weight_key`"):
        UNetWeightMapd(["a", "b"], weight_key="weight")


def test_dict_transform_after_elastic_deformation():
    labels = touching_cells((48, 52), 10, 10, seed=5)
    deform = Rand2DElasticd("label", spacing=(12, 12), magnitude_range=(3, 3), prob=1.0, mode="nearest")
    pipeline = Compose([deform, UNetWeightMapd("label")])
    pipeline.set_random_state(seed=0)
    out = pipeline({"label": MetaTensor(torch.as_tensor(labels[None], dtype=torch.float32))})
    deformed = out["label"][0].numpy()
    assert not np.array_equal(deformed, labels)
    np.testing.assert_array_equal(out["weight"][0].numpy(), unet_weight_map(deformed))


def test_bundle_config_round_trip():
    config = {
        "transform": {
            "_target_": "medunet.transforms.UNetWeightMapd",
            "keys": "label",
            "weight_key": "w",
            "w0": 5.0,
            "sigma": 3.0,
            "class_weights": None,
        }
    }
    transform = ConfigParser(config).get_parsed_content("transform")
    assert isinstance(transform, UNetWeightMapd)
    labels = two_slabs()
    np.testing.assert_array_equal(
        transform({"label": labels})["w"], unet_weight_map(labels, w0=5.0, sigma=3.0, class_weights=None)
    )


@pytest.mark.slow
def test_speed_against_naive_definition():
    labels = touching_cells((512, 512), 125, 30, seed=0)
    start = time.perf_counter()
    naive_separation_term(labels)
    naive = time.perf_counter() - start
    fast = min(_timed(unet_weight_map, labels) for _ in range(3))
    assert naive / fast >= 30


def _timed(fn, *args):
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start
