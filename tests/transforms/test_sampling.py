"""ForegroundLocationsd: indices computed once match MONAI's own scan, capped evenly, and drive the crop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.transforms import RandCropByPosNegLabeld
from monai.transforms.utils import map_binary_to_indices

from medunet.transforms import ForegroundLocationsd, strided_subset


def case(shape=(1, 20, 18, 11), seed=0):
    rng = np.random.default_rng(seed)
    label = np.zeros(shape, np.uint8)
    label[0, 5:9, 4:7, 3:6] = 2
    label[0, 12, 10, 8] = 1
    image = rng.normal(size=(2, *shape[1:])).astype(np.float32)
    image[:, :3] = 0  # "outside the head"
    return {"image": torch.from_numpy(image), "label": torch.from_numpy(label)}


def test_indices_equal_monais_scan_when_under_the_cap():
    data = case()
    out = ForegroundLocationsd("label", image_key="image", max_locations=None)(data)
    fg, bg = map_binary_to_indices(data["label"], data["image"], 0.0)
    np.testing.assert_array_equal(out["label_fg_indices"], np.asarray(fg))
    np.testing.assert_array_equal(out["label_bg_indices"], np.asarray(bg))
    assert out["label_fg_indices"].size == (data["label"] > 0).sum()
    assert out["label"] is data["label"]


def test_background_is_only_where_the_image_exceeds_the_threshold():
    data = case()
    out = ForegroundLocationsd("label", image_key="image", image_threshold=0.5, max_locations=None)(data)
    flat_image = data["image"].reshape(2, -1).numpy()
    bg = out["label_bg_indices"]
    assert (flat_image[:, bg] > 0.5).any(0).all()
    assert (data["label"].reshape(-1).numpy()[bg] == 0).all()
    without_image = ForegroundLocationsd("label", max_locations=None)(data)["label_bg_indices"]
    assert without_image.size == (data["label"] == 0).sum()  # an integer label, not bitwise-negated


def test_cap_keeps_an_even_sorted_subset_spanning_the_volume():
    full = np.arange(0, 100_000, 3)
    subset = strided_subset(full, 1000)
    assert subset.size == 1000
    assert np.isin(subset, full).all() and (np.diff(subset) > 0).all()
    assert subset[0] == full[0] and subset[-1] == full[-1]
    gaps = np.diff(subset)
    assert gaps.max() - gaps.min() <= 3  # evenly strided
    np.testing.assert_array_equal(strided_subset(full[:10], 1000), full[:10])


def test_capped_output_is_small_and_inside_the_label():
    data = case(shape=(1, 40, 40, 30))
    out = ForegroundLocationsd("label", image_key="image", max_locations=20)(data)
    assert out["label_fg_indices"].size == 20 and out["label_bg_indices"].size == 20
    assert (data["label"].reshape(-1).numpy()[out["label_fg_indices"]] > 0).all()


def test_precomputed_indices_drive_the_crop_to_foreground():
    data = ForegroundLocationsd("label", image_key="image")(case())
    crop = RandCropByPosNegLabeld(
        ["image", "label"],
        "label",
        (4, 4, 4),
        pos=1,
        neg=0,
        num_samples=8,
        fg_indices_key="label_fg_indices",
        bg_indices_key="label_bg_indices",
    )
    crop.set_random_state(0)
    for patch in crop(data):
        assert patch["label"].shape == (1, 4, 4, 4)
        assert patch["label"].max() > 0


def test_a_case_without_foreground_gets_an_empty_foreground():
    data = case()
    data["label"] = torch.zeros_like(data["label"])
    out = ForegroundLocationsd("label")(data)
    assert out["label_fg_indices"].size == 0
    assert out["label_bg_indices"].size == data["label"].numel()


def test_bad_arguments_and_shapes_are_refused():
    with pytest.raises(ValueError, match="max_locations"):
        ForegroundLocationsd("label", max_locations=0)
    data = case()
    data["image"] = data["image"][:, :-1]
    with pytest.raises(ValueError, match="spatial shape"):
        ForegroundLocationsd("label", image_key="image")(data)
