import logging
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from monai.bundle import ConfigParser
from monai.data import DataLoader, Dataset
from monai.transforms import NormalizeIntensity, ScaleIntensityRangePercentiles
from PIL import Image

from medunet.data.cells import (
    LoadCellImaged,
    check_cell_images,
    find_cell_images,
    image_info,
    prepare_cell_dataset,
    read_image_file,
)
from medunet.data.discovery import DatasetError
from tests.data.layouts import (
    UNUSABLE,
    cell_labels,
    membrane_labels,
    problems_of,
    save_image,
    unusable_folder,
    write_ctc,
    write_dsb,
    write_folders,
    write_isbi,
)

RAW = {"normalize": None}


# finding images


def test_find_folders_matches_by_stem_and_ignores_junk(tmp_path):
    write_folders(tmp_path)
    (tmp_path / "images" / "._cell_a.tif").write_bytes(b"mac junk")
    (tmp_path / "labels" / ".DS_Store").write_bytes(b"")
    assert find_cell_images(tmp_path) == [
        {"image": str(tmp_path / "images" / f"cell_{n}"), "label": str(tmp_path / "labels" / f"cell_{n}"),
         "name": f"cell_{n[0]}", "annotation": "instance"}
        for n in ("a.tif", "b.png")
    ]  # fmt: skip


def test_unmatched_images_and_labels_are_listed(tmp_path):
    write_folders(tmp_path)
    save_image(tmp_path / "images" / "cell_c.tif", np.zeros((16, 20), np.uint8))
    save_image(tmp_path / "labels" / "cell_d_mask.tif", np.zeros((16, 20), np.uint8))
    save_image(tmp_path / "images" / "cell_a.png", np.zeros((16, 20), np.uint8))
    text = problems_of(find_cell_images, tmp_path)
    assert f"cell dataset {tmp_path} (folders layout): 3 problem(s)" in text
    assert f"{tmp_path / 'images' / 'cell_c.tif'}: no label cell_c.tif or .png in {tmp_path / 'labels'}" in text
    assert f"{tmp_path / 'labels' / 'cell_d_mask.tif'}: no image cell_d_mask.* in" in text
    assert f"{tmp_path / 'images' / 'cell_a.tif'}: same name as {tmp_path / 'images' / 'cell_a.png'}" in text


def test_find_ctc_takes_only_annotated_frames(tmp_path):
    write_ctc(tmp_path)
    items = find_cell_images(tmp_path)
    assert [(i["name"], Path(i["image"]).name, Path(i["label"]).name) for i in items] == [
        ("01_t001", "t001.tif", "man_seg001.tif"),
        ("01_t003", "t003.tif", "man_seg0003.tif"),  # 4-digit annotation of a 3-digit frame
    ]
    assert items[0]["annotation"] == "instance" and items[0]["sequence"] == "01"
    assert len(find_cell_images(tmp_path, labels=False)) == 5  # inference: every frame


def test_ctc_problems(tmp_path):
    write_ctc(tmp_path)
    save_image(tmp_path / "01_GT" / "SEG" / "man_seg007.tif", cell_labels())  # no frame t007
    save_image(tmp_path / "02" / "t000.tif", np.zeros((16, 20), np.uint16))  # sequence without ground truth
    text = problems_of(find_cell_images, tmp_path)
    assert f"{tmp_path / '01_GT' / 'SEG' / 'man_seg007.tif'}: no frame t007.tif in {tmp_path / '01'}" in text
    assert f"{tmp_path / '02_GT' / 'SEG'}: no man_seg<t>.tif ground truth" in text


def test_find_isbi2012_one_item_per_frame(tmp_path):
    write_isbi(tmp_path, frames=3)
    items = find_cell_images(tmp_path)
    assert [(i["frame"], i["name"], i["annotation"]) for i in items] == [
        (k, f"train-volume_{k:03d}", "membrane") for k in range(3)
    ]
    names = [i["name"] for i in find_cell_images(tmp_path, labels=False)]
    assert names == ["test-volume_000", "test-volume_001", "train-volume_000", "train-volume_001", "train-volume_002"]
    save_image(tmp_path / "train-labels.tif", membrane_labels(2))
    assert "train-labels.tif: 2 frames (expected 3" in problems_of(find_cell_images, tmp_path)


def test_find_dsb2018(tmp_path):
    write_dsb(tmp_path)
    items = find_cell_images(tmp_path)
    assert [(i["name"], len(i["label"]), i["annotation"]) for i in items] == [
        ("0a7d", 2, "masks"),
        ("1b9e", 1, "masks"),
    ]
    (tmp_path / "1b9e" / "masks" / "m0.png").unlink()
    assert f"{tmp_path / '1b9e' / 'masks'}: no mask files" in problems_of(find_cell_images, tmp_path)
    assert len(find_cell_images(tmp_path, labels=False)) == 2


def test_layout_forced_ambiguous_or_unknown(tmp_path):
    write_folders(tmp_path)
    write_isbi(tmp_path)
    assert "fits several layouts ['folders', 'isbi2012']" in problems_of(find_cell_images, tmp_path)
    assert len(find_cell_images(tmp_path, layout="isbi2012")) == 3
    with pytest.raises(ValueError, match="layout"):
        find_cell_images(tmp_path, layout="tiles")


@pytest.mark.parametrize("state", UNUSABLE)
def test_unrecognised_folder_names_it_and_the_layouts(tmp_path, state):
    folder = unusable_folder(tmp_path, state)
    text = problems_of(find_cell_images, folder)
    assert text.startswith(f"{folder}: ") and all(name in text for name in ("folders", "ctc", "isbi2012", "dsb2018"))


def test_inference_inputs_file_stack_or_plain_folder(tmp_path):
    save_image(tmp_path / "one.png", np.zeros((16, 20), np.uint8))
    save_image(tmp_path / "stack.tif", np.zeros((3, 16, 20), np.uint16))
    assert find_cell_images(tmp_path / "one.png", labels=False) == [{"image": str(tmp_path / "one.png"), "name": "one"}]
    frames = find_cell_images(tmp_path / "stack.tif", labels=False)
    assert [(i["frame"], i["name"]) for i in frames] == [(0, "stack_000"), (1, "stack_001"), (2, "stack_002")]
    assert [i["name"] for i in find_cell_images(tmp_path, labels=False)] == [
        "one",
        "stack_000",
        "stack_001",
        "stack_002",
    ]


# header checks


def test_valid_layouts_pass_the_check(tmp_path):
    for write in (write_folders, write_ctc, write_isbi, write_dsb):
        items = find_cell_images(write(tmp_path / write.__name__))
        assert check_cell_images(items) == items


def test_check_names_both_files_and_sizes(tmp_path):
    write_folders(tmp_path)
    save_image(tmp_path / "labels" / "cell_a.tif", np.zeros((16, 21), np.uint16))
    save_image(tmp_path / "labels" / "cell_b.png", np.zeros((16, 20, 3), np.uint8))
    text = problems_of(check_cell_images, find_cell_images(tmp_path))
    image_a, label_a = tmp_path / "images" / "cell_a.tif", tmp_path / "labels" / "cell_a.tif"
    assert f"{label_a}: size 16x21 (expected 16x20, like {image_a})" in text
    assert f"{tmp_path / 'labels' / 'cell_b.png'}: 3 channels (expected a single-channel label image)" in text


def test_check_float_labels_unreadable_files_and_frames(tmp_path):
    write_folders(tmp_path)
    save_image(tmp_path / "labels" / "cell_a.tif", cell_labels().astype(np.float32))
    (tmp_path / "images" / "cell_b.png").write_bytes(b"not a png")
    items = find_cell_images(tmp_path)
    items.append({"image": items[0]["image"], "label": items[0]["label"], "name": "x", "frame": 2})
    text = problems_of(check_cell_images, items)
    assert f"{tmp_path / 'labels' / 'cell_a.tif'}: float32 pixels (expected integer labels)" in text
    assert f"{tmp_path / 'images' / 'cell_b.png'}: not a readable TIFF / PNG image" in text
    assert f"{tmp_path / 'images' / 'cell_a.tif'}: no frame 2 (expected 0..0)" in text
    stack = save_image(tmp_path / "stack.tif", np.zeros((2, 16, 20), np.uint8))
    assert "2 frames (expected one image" in problems_of(check_cell_images, [{"image": str(stack), "name": "s"}])


# reading and loading


def test_image_info_and_planar_rgb(tmp_path):
    path = tmp_path / "planar.tif"
    rgb = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    tifffile.imwrite(path, rgb, photometric="rgb", planarconfig="separate")
    assert image_info(path) == (1, 4, 5, 3, "uint8")
    np.testing.assert_array_equal(read_image_file(path), np.moveaxis(rgb, 0, -1))


def test_load_16bit_tiff_and_instance_ids(tmp_path):
    items = find_cell_images(write_folders(tmp_path))
    data = LoadCellImaged(**RAW)(items[0])
    image, label = data["image"], data["label"]
    assert image.shape == (1, 16, 20) and image.dtype == torch.float32
    np.testing.assert_array_equal(image[0], tifffile.imread(items[0]["image"]))  # 16-bit values kept exactly
    assert label.shape == (1, 16, 20) and label.dtype == torch.int32
    np.testing.assert_array_equal(label[0], cell_labels())  # ids 3 and 7 kept
    assert image.meta["filename_or_obj"] == items[0]["image"] and label.meta["filename_or_obj"] == items[0]["label"]


def test_binary_mask_becomes_connected_components(tmp_path):
    data = LoadCellImaged(**RAW)(find_cell_images(write_folders(tmp_path))[1])  # 0/255 PNG mask
    expected = cell_labels()
    expected[expected == 3], expected[expected == 7] = 1, 2
    np.testing.assert_array_equal(data["label"][0], expected)


@pytest.mark.parametrize(("kind", "ids"), [("instance", [0, 5, 9]), ("binary", [0, 1, 2])])
def test_annotations(tmp_path, kind, ids):
    labels = np.zeros((4, 6), np.uint16)
    labels[:, :2], labels[:, 4:] = 5, 9
    save_image(tmp_path / "l.tif", labels)
    save_image(tmp_path / "i.tif", np.zeros((4, 6), np.uint8))
    item = {"image": str(tmp_path / "i.tif"), "label": str(tmp_path / "l.tif"), "annotation": kind}
    assert np.unique(LoadCellImaged(**RAW)(item)["label"]).tolist() == ids


def test_membrane_labels_separate_cells_with_4_connectivity(tmp_path):
    items = find_cell_images(write_isbi(tmp_path, frames=3))
    counts = [int(LoadCellImaged(**RAW)(item)["label"].max()) for item in items]
    assert counts == [2, 3, 4]  # frame k has k + 1 membrane columns
    data = LoadCellImaged(**RAW)(items[1])
    assert data["label"][0, 0, 5] == 0 and data["image"].meta["frame"] == 1  # membrane pixels are background
    np.testing.assert_array_equal(data["image"][0], np.arange(256, 512).reshape(16, 16) % 256)
    diagonal = np.full((1, 6, 6), 255, np.uint8)
    diagonal[0, np.arange(6), np.arange(6)] = 0  # a one-pixel diagonal membrane
    save_image(tmp_path / "d.tif", diagonal[0])
    item = {"image": str(tmp_path / "d.tif"), "label": str(tmp_path / "d.tif"), "annotation": "membrane"}
    assert LoadCellImaged(**RAW)(item)["label"].max() == 2
    assert LoadCellImaged(connectivity=2, **RAW)(item)["label"].max() == 1


def test_dsb_masks_painted_and_alpha_dropped(tmp_path):
    item = find_cell_images(write_dsb(tmp_path))[0]
    data = LoadCellImaged(**RAW)(item)
    assert data["image"].shape == (3, 16, 20)
    np.testing.assert_array_equal(data["image"][:, 0, 0], [10, 20, 30])
    assert np.unique(data["label"]).tolist() == [0, 1, 2] and data["label"][0, 3, 4] == 1
    assert data["label"][0, 9, 4] == 2 and data["label"].meta["filename_or_obj"] == str(tmp_path / "0a7d" / "masks")
    grey = LoadCellImaged(color="grey", **RAW)(item)["image"]
    assert grey.shape == (1, 16, 20)
    np.testing.assert_allclose(grey[0, 0, 0], 0.299 * 10 + 0.587 * 20 + 0.114 * 30, rtol=1e-6)


def test_rgb_option_repeats_grey(tmp_path):
    item = find_cell_images(write_folders(tmp_path))[0]
    image = LoadCellImaged(keys="image", color="rgb", **RAW)(item)["image"]
    assert image.shape == (3, 16, 20) and torch.equal(image[0], image[2])


def test_intensity_normalisation_matches_monai(tmp_path):
    rgb = np.zeros((16, 20, 3), np.uint16)  # 16-bit RGB, all channels normalised together
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = np.arange(20), 2 * np.arange(16)[:, None], 30
    rgb[2, 3, 1] = 900  # one bright pixel above the upper percentile
    item = {"image": str(save_image(tmp_path / "rgb16.tif", rgb))}
    raw = LoadCellImaged(keys="image", **RAW)(item)["image"]
    np.testing.assert_array_equal(raw, rgb.transpose(2, 0, 1))
    scaled = LoadCellImaged(keys="image")(item)["image"]
    expected = ScaleIntensityRangePercentiles(1, 99.8, 0, 1, clip=False)(raw)
    np.testing.assert_allclose(scaled, expected, atol=1e-5)
    assert scaled.max() > 1 and scaled.meta["filename_or_obj"] == item["image"]
    zscore = LoadCellImaged(keys="image", normalize="zscore")(item)["image"]
    np.testing.assert_allclose(zscore, NormalizeIntensity()(raw), atol=1e-5)


def test_constant_image_normalises_to_zeros(tmp_path):
    save_image(tmp_path / "flat.tif", np.full((4, 6), 7, np.uint8))
    for normalize in ("percentile", "zscore"):
        image = LoadCellImaged(keys="image", normalize=normalize)({"image": str(tmp_path / "flat.tif")})["image"]
        assert torch.count_nonzero(image) == 0


def test_load_size_mismatch_and_missing_frame(tmp_path):
    write_folders(tmp_path)
    save_image(tmp_path / "labels" / "cell_a.tif", np.zeros((16, 21), np.uint16))
    item = find_cell_images(tmp_path)[0]
    with pytest.raises(DatasetError, match=r"cell_a\.tif: size \(16, 21\) \(expected \(16, 20\), the size of .*images"):
        LoadCellImaged()(item)
    with pytest.raises(DatasetError, match="no frame 3"):
        LoadCellImaged()({**item, "frame": 3})


def test_loader_options_are_checked():
    for kwargs in ({"color": "gray"}, {"normalize": "minmax"}, {"percentiles": (99, 1)}, {"connectivity": 3}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            LoadCellImaged(**kwargs)
    with pytest.raises(ValueError, match="annotation"):
        LoadCellImaged(keys="label")._label("x.tif", "polygons", None)


def test_pipeline_from_config_batches_and_writes(tmp_path):
    items = find_cell_images(write_ctc(tmp_path / "data"))
    config = {
        "load": {"_target_": "medunet.data.cells.LoadCellImaged", "keys": ["image", "label"], "normalize": "zscore"},
        "save": {"_target_": "medunet.data.writers.SaveLabelImaged", "keys": "label", "output_dir": str(tmp_path)},
    }
    parser = ConfigParser(config)
    batch = next(iter(DataLoader(Dataset(items, parser.get_parsed_content("load")), batch_size=2)))
    assert batch["image"].shape == (2, 1, 16, 20) and batch["label"].dtype == torch.int32
    data = parser.get_parsed_content("load")(items[0])
    parser.get_parsed_content("save")(data)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "01_t001_label.tif"), cell_labels())


# prepare


def test_prepare_generates_into_an_empty_folder_and_refuses_others(tmp_path, caplog):
    calls = []

    def make_synthetic(folder):
        calls.append(folder)
        write_folders(Path(folder))

    with caplog.at_level(logging.INFO, logger="medunet.data.discovery"):
        items = prepare_cell_dataset(tmp_path / "cells", make_synthetic)
    assert [i["name"] for i in items] == ["cell_a", "cell_b"] and len(calls) == 1
    assert "generating the synthetic cell dataset there" in caplog.text
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match="no cell images found"):
        prepare_cell_dataset(tmp_path / "other", make_synthetic)
    assert len(calls) == 1


def test_palette_png_colours_for_images_indices_for_labels(tmp_path):
    indices = np.zeros((4, 6), np.uint8)
    indices[1:3, 1:3], indices[1:3, 4:6] = 1, 2
    palette = Image.fromarray(indices)  # "L", made "P" by putpalette
    palette.putpalette([0, 0, 0, 200, 10, 10, 10, 200, 10] + [0] * 759)
    palette.save(tmp_path / "p.png")
    item = {"image": str(tmp_path / "p.png"), "label": str(tmp_path / "p.png")}
    data = LoadCellImaged(**RAW)(item)
    np.testing.assert_array_equal(data["label"][0], indices)  # palette indices are the ids
    assert data["image"].shape == (3, 4, 6) and data["image"][:, 1, 1].tolist() == [200, 10, 10]


def test_prepare_reports_unmatched_and_broken_files_together(tmp_path):
    write_folders(tmp_path)
    save_image(tmp_path / "images" / "cell_c.tif", np.zeros((16, 20), np.uint8))
    save_image(tmp_path / "labels" / "cell_a.tif", np.zeros((16, 21), np.uint16))
    text = problems_of(prepare_cell_dataset, tmp_path)
    assert text.startswith(f"cell dataset {tmp_path} (folders layout): 2 problem(s)")
    assert "cell_c.tif: no label" in text and "cell_a.tif: size 16x21 (expected 16x20" in text
