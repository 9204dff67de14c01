import gzip
import json
import logging
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.data import DataLoader, Dataset, decollate_batch
from monai.transforms import Compose, Invertd, Orientationd, SaveImage, Spacingd

from medunet.data.brain import (
    LoadBrainTumorCased,
    case_name_formatter,
    check_brain_tumor_cases,
    find_brain_tumor_cases,
    find_brain_tumor_images,
    prepare_brain_tumor_dataset,
)
from medunet.data.discovery import DatasetError
from tests.data.layouts import (
    AFFINE,
    SHAPE,
    UNUSABLE,
    brain_label,
    problems_of,
    save_nifti,
    unusable_folder,
    write_brats,
    write_msd,
)

# finding cases


@pytest.mark.parametrize("dataset_json", [True, False])
def test_find_msd_ignores_macos_junk(tmp_path, dataset_json):
    write_msd(tmp_path, n=3, dataset_json=dataset_json)
    items = find_brain_tumor_cases(tmp_path)
    assert [i["case"] for i in items] == ["BRATS_001", "BRATS_002", "BRATS_003"]
    assert items[0] == {
        "image": str(tmp_path / "imagesTr" / "BRATS_001.nii.gz"),
        "label": str(tmp_path / "labelsTr" / "BRATS_001.nii.gz"),
        "case": "BRATS_001",
        "numbering": "msd",
    }


@pytest.mark.parametrize("ext", [".nii.gz", ".nii"])
def test_find_brats_in_modality_order(tmp_path, ext):
    write_brats(tmp_path, n=2, ext=ext)
    items = find_brain_tumor_cases(tmp_path)
    case = tmp_path / "BraTS2021_00001"
    assert items[1] == {
        "image": [str(case / f"BraTS2021_00001_{m}{ext}") for m in ("flair", "t1", "t1ce", "t2")],
        "label": str(case / f"BraTS2021_00001_seg{ext}"),
        "case": "BraTS2021_00001",
        "numbering": "brats",
    }


def test_missing_modality_and_label_are_listed_together(tmp_path):
    write_brats(tmp_path, n=3)
    (tmp_path / "BraTS2021_00001" / "BraTS2021_00001_t1ce.nii.gz").unlink()
    (tmp_path / "BraTS2021_00002" / "BraTS2021_00002_seg.nii.gz").unlink()
    text = problems_of(find_brain_tumor_cases, tmp_path)
    assert "2 problem(s)" in text
    assert f"{tmp_path / 'BraTS2021_00001'}: missing t1ce (expected one BraTS2021_00001_t1ce.nii.gz" in text
    assert f"{tmp_path / 'BraTS2021_00002'}: missing seg" in text
    # for inference the segmentation is not needed, the modalities are
    assert "1 problem(s)" in problems_of(find_brain_tumor_images, tmp_path)


def test_msd_label_missing(tmp_path):
    write_msd(tmp_path, n=2, dataset_json=False)
    (tmp_path / "labelsTr" / "BRATS_002.nii.gz").unlink()
    assert f"{tmp_path / 'labelsTr' / 'BRATS_002.nii.gz'}: label not found" in problems_of(
        find_brain_tumor_cases, tmp_path
    )


@pytest.mark.parametrize("state", UNUSABLE)
def test_unrecognised_folder_names_it_and_both_layouts(tmp_path, state):
    folder = unusable_folder(tmp_path, state)
    text = problems_of(find_brain_tumor_cases, folder)
    assert text.startswith(f"{folder}: ") and "MSD Task01 layout" in text and "BraTS 2021 layout" in text
    assert ("folder not found" in text) == (state == "missing")
    assert ("(it holds: notes.txt)" in text) == (state == "other files")


def test_other_msd_task_is_rejected(tmp_path):
    write_msd(tmp_path, n=1)
    meta = json.loads((tmp_path / "dataset.json").read_text())
    meta["modality"] = {"0": "MRI"}
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    assert "modalities ['MRI'] (expected ['FLAIR', 'T1w', 't1gd', 'T2w']" in problems_of(
        find_brain_tumor_cases, tmp_path
    )


def test_unnamed_nifti_case_folder_is_reported(tmp_path):
    write_brats(tmp_path, n=1)
    save_nifti(tmp_path / "case_x" / "flair.nii.gz", np.zeros(SHAPE, np.float32))
    assert f"{tmp_path / 'case_x'}: NIfTI files not named" in problems_of(find_brain_tumor_cases, tmp_path)


def test_find_images_for_inference(tmp_path):
    msd = write_msd(tmp_path / "msd", n=2)
    assert [i["case"] for i in find_brain_tumor_images(msd)] == ["BRATS_001", "BRATS_002"]  # imagesTr, no imagesTs
    save_nifti(msd / "imagesTs" / "BRATS_485.nii.gz", np.zeros((*SHAPE, 4), np.float32))
    (msd / "imagesTs" / "._BRATS_485.nii.gz").write_bytes(b"junk")
    expected = [{"image": str(msd / "imagesTs" / "BRATS_485.nii.gz"), "case": "BRATS_485", "numbering": "msd"}]
    assert find_brain_tumor_images(msd) == expected  # MSD root: the test images
    assert find_brain_tumor_images(msd / "imagesTs") == expected  # a folder of 4D files
    assert find_brain_tumor_images(msd / "imagesTs" / "BRATS_485.nii.gz") == expected  # one file
    brats = write_brats(tmp_path / "brats", n=2, seg=False)
    assert [i["case"] for i in find_brain_tumor_images(brats)] == ["BraTS2021_00000", "BraTS2021_00001"]
    single = find_brain_tumor_images(brats / "BraTS2021_00001")
    assert single[0]["case"] == "BraTS2021_00001" and "label" not in single[0] and len(single[0]["image"]) == 4


# header checks


def test_valid_datasets_pass_the_check(tmp_path):
    for items in (
        find_brain_tumor_cases(write_msd(tmp_path / "m")),
        find_brain_tumor_cases(write_brats(tmp_path / "b")),
    ):
        assert check_brain_tumor_cases(items) == items


def test_check_collects_every_problem_with_paths(tmp_path):
    items = find_brain_tumor_cases(write_msd(tmp_path, n=4))
    images, labels = tmp_path / "imagesTr", tmp_path / "labelsTr"
    save_nifti(labels / "BRATS_001.nii.gz", np.zeros((8, 7, 5), np.uint8))  # shape mismatch
    (images / "BRATS_002.nii.gz").write_bytes(b"this is not a NIfTI file")
    save_nifti(images / "BRATS_003.nii.gz", np.zeros((*SHAPE, 3), np.float32))  # 3 channels
    (labels / "BRATS_004.nii.gz").unlink()
    text = problems_of(check_brain_tumor_cases, items)
    assert text.startswith(f"brain tumour dataset {images}: 4 problem(s)")
    assert f"{labels / 'BRATS_001.nii.gz'}: shape (8, 7, 5) (expected (8, 7, 6), the shape of" in text
    assert f"{images / 'BRATS_002.nii.gz'}: not a readable NIfTI file" in text
    assert f"{images / 'BRATS_003.nii.gz'}: shape (8, 7, 6, 3) (expected 4D (X, Y, Z, 4)" in text
    assert f"{labels / 'BRATS_004.nii.gz'}: file not found" in text


def test_check_brats_grid_and_label_dimensions(tmp_path):
    write_brats(tmp_path, n=3)
    case0, case1, case2 = (tmp_path / f"BraTS2021_0000{i}" for i in range(3))
    save_nifti(case0 / "BraTS2021_00000_t2.nii.gz", np.zeros((8, 7, 7), np.float32))
    shifted = AFFINE.copy()
    shifted[0, 3] += 0.5
    save_nifti(case1 / "BraTS2021_00001_seg.nii.gz", brain_label(), shifted)
    save_nifti(case2 / "BraTS2021_00002_seg.nii.gz", np.zeros((*SHAPE, 2), np.uint8))
    text = problems_of(check_brain_tumor_cases, find_brain_tumor_cases(tmp_path))
    assert f"{case0 / 'BraTS2021_00000_t2.nii.gz'}: shape (8, 7, 7) / affine differ from" in text
    assert f"{case1 / 'BraTS2021_00001_seg.nii.gz'}: affine differs from" in text
    assert f"{case2 / 'BraTS2021_00002_seg.nii.gz'}: shape (8, 7, 6, 2) (expected a 3D label volume)" in text


def truncate(path):
    """Keep the NIfTI header but cut the voxel data short."""
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[: len(raw) // 2]))


def test_check_reads_headers_only_and_loading_names_a_broken_file(tmp_path):
    write_msd(tmp_path, n=1)
    truncate(tmp_path / "imagesTr" / "BRATS_001.nii.gz")
    items = check_brain_tumor_cases(find_brain_tumor_cases(tmp_path))  # the header is intact
    with pytest.raises(DatasetError, match=r"cannot load .*BRATS_001\.nii\.gz"):
        LoadBrainTumorCased()(items[0])


def test_duplicate_case_ids(tmp_path):
    items = find_brain_tumor_cases(write_msd(tmp_path, n=1))
    assert "BRATS_001: case id used 2 times" in problems_of(check_brain_tumor_cases, items * 2)


# loading


def test_load_msd_case_keeps_the_grid(tmp_path):
    item = find_brain_tumor_cases(write_msd(tmp_path, n=2))[1]
    data = LoadBrainTumorCased()(item)
    image, label = data["image"], data["label"]
    assert image.shape == (4, *SHAPE) and image.dtype == torch.float32
    assert label.shape == (1, *SHAPE) and label.dtype == torch.uint8
    np.testing.assert_allclose(image[:, 0, 0, 0], [1.2, 2.2, 3.2, 4.2], rtol=1e-6)  # channel c holds c + 1 + 0.2
    np.testing.assert_array_equal(label[0], brain_label())
    np.testing.assert_allclose(image.affine, AFFINE)
    assert image.meta["case"] == "BRATS_002" and image.meta["filename_or_obj"] == item["image"]


def test_load_brats_stacks_modalities_and_maps_labels(tmp_path):
    item = find_brain_tumor_cases(write_brats(tmp_path, n=1))[0]
    data = LoadBrainTumorCased()(item)
    np.testing.assert_array_equal(data["image"][:, 3, 3, 3], [1, 2, 3, 4])  # FLAIR, T1, T1ce, T2
    # BraTS 1 NCR, 2 ED, 4 ET on slabs 1, 2, 3 -> MSD 2, 1, 3
    np.testing.assert_array_equal(data["label"][0, :4, 0, 0], [0, 2, 1, 3])
    np.testing.assert_allclose(data["label"].affine, AFFINE)


def test_label_values_outside_the_numbering(tmp_path):
    write_brats(tmp_path, n=1)
    seg = tmp_path / "BraTS2021_00000" / "BraTS2021_00000_seg.nii.gz"
    save_nifti(seg, brain_label(values=(1, 5)))
    item = find_brain_tumor_cases(tmp_path)[0]
    with pytest.raises(DatasetError, match=rf"{seg}: label values \[5\] \(expected \[0, 1, 2, 3, 4\], the brats"):
        LoadBrainTumorCased()(item)
    with pytest.raises(ValueError, match="numbering"):
        LoadBrainTumorCased()({**item, "numbering": "other"})


def test_legacy_brats_net_label_joins_the_core(tmp_path):
    write_brats(tmp_path, n=1)
    seg = tmp_path / "BraTS2021_00000" / "BraTS2021_00000_seg.nii.gz"
    save_nifti(seg, brain_label(values=(1, 3)))
    label = LoadBrainTumorCased()(find_brain_tumor_cases(tmp_path)[0])["label"]
    assert set(np.unique(label.numpy())) <= {0, 2}  # NCR (1) and the pre-2017 NET (3) are both MSD 2


def test_image_label_shape_mismatch_while_loading(tmp_path):
    write_msd(tmp_path, n=1)
    save_nifti(tmp_path / "labelsTr" / "BRATS_001.nii.gz", np.zeros((8, 7, 5), np.uint8))
    with pytest.raises(DatasetError, match=r"BRATS_001\.nii\.gz: shape \(8, 7, 5\) \(expected \(8, 7, 6\)"):
        LoadBrainTumorCased()(find_brain_tumor_cases(tmp_path)[0])


def test_saved_label_has_the_input_grid(tmp_path):
    item = find_brain_tumor_cases(write_msd(tmp_path / "data", n=1))[0]
    label = LoadBrainTumorCased()(item)["label"]
    SaveImage(output_dir=tmp_path / "out", output_postfix="seg", separate_folder=False, print_log=False)(label)
    saved, source = nib.load(tmp_path / "out" / "BRATS_001_seg.nii.gz"), nib.load(item["label"])
    assert saved.shape == source.shape
    np.testing.assert_allclose(saved.affine, source.affine, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(saved.dataobj), np.asarray(source.dataobj))


def test_batches_collate_and_outputs_are_named_by_case(tmp_path):
    items = find_brain_tumor_cases(write_brats(tmp_path / "data", n=2))
    batch = next(iter(DataLoader(Dataset(items, LoadBrainTumorCased()), batch_size=2)))
    assert batch["image"].shape == (2, 4, *SHAPE)
    saver = SaveImage(output_dir=tmp_path / "out", output_postfix="seg", output_name_formatter=case_name_formatter)
    for label in decollate_batch(batch["label"]):
        saver(label)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["BraTS2021_00000", "BraTS2021_00001"]
    assert (tmp_path / "out" / "BraTS2021_00000" / "BraTS2021_00000_seg.nii.gz").is_file()


def test_inference_items_load_without_label(tmp_path):
    items = find_brain_tumor_images(write_brats(tmp_path, n=1, seg=False))
    data = LoadBrainTumorCased(allow_missing_keys=True)(items[0])
    assert data["image"].shape == (4, *SHAPE) and "label" not in data


def test_loader_from_bundle_config(tmp_path):
    item = find_brain_tumor_cases(write_msd(tmp_path, n=1))[0]
    config = {
        "load": {"_target_": "medunet.data.brain.LoadBrainTumorCased", "keys": ["image", "label"]},
        "pipeline": {"_target_": "Compose", "transforms": ["@load", {"_target_": "EnsureTyped", "keys": "image"}]},
    }
    data = ConfigParser(config).get_parsed_content("pipeline")(item)
    assert data["image"].shape == (4, *SHAPE) and data["label"].shape == (1, *SHAPE)


# prepare


def test_prepare_generates_into_an_empty_folder_and_refuses_others(tmp_path, caplog):
    calls = []

    def make_synthetic(folder):
        calls.append(folder)
        write_msd(Path(folder), n=2, junk=False)

    with caplog.at_level(logging.INFO, logger="medunet.data.discovery"):
        items = prepare_brain_tumor_dataset(tmp_path / "data", make_synthetic)
    assert len(calls) == 1 and [i["case"] for i in items] == ["BRATS_001", "BRATS_002"]
    assert items[0]["image"] == str(tmp_path / "data" / "imagesTr" / "BRATS_001.nii.gz")
    assert f"no dataset found in {tmp_path / 'data'}: generating the synthetic brain tumour dataset" in caplog.text
    assert prepare_brain_tumor_dataset(tmp_path / "data", make_synthetic) == items and len(calls) == 1
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "scan.dcm").write_bytes(b"")
    with pytest.raises(DatasetError, match="no brain tumour dataset found"):
        prepare_brain_tumor_dataset(tmp_path / "other", make_synthetic)
    assert len(calls) == 1


def test_bundle_run_on_a_wrong_folder_exits_non_zero(tmp_path):
    """A bundle that prepares its data first stops with the folder named, before any training."""
    config = {
        "dataset_dir": str(tmp_path / "default"),
        "cases": {"_target_": "medunet.data.brain.prepare_brain_tumor_dataset", "dataset_dir": "@dataset_dir"},
        "run": ["$print('training on', len(@cases), 'cases')"],
    }
    (tmp_path / "train.json").write_text(json.dumps(config))
    (tmp_path / "wrong").mkdir()
    (tmp_path / "wrong" / "report.pdf").write_bytes(b"")
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(tmp_path / "train.json")]
    result = subprocess.run([*command, "--dataset_dir", str(tmp_path / "wrong")], capture_output=True, text=True)
    assert result.returncode != 0
    assert f"DatasetError: {tmp_path / 'wrong'}: no brain tumour dataset found (it holds: report.pdf)" in result.stderr
    assert "training on" not in result.stdout


def test_malformed_dataset_json_and_ambiguous_files(tmp_path):
    msd = write_msd(tmp_path / "msd", n=2)
    meta = json.loads((msd / "dataset.json").read_text())
    del meta["training"][1]["label"]
    meta["training"].append("./imagesTr/BRATS_003.nii.gz")
    (msd / "dataset.json").write_text(json.dumps(meta))
    text = problems_of(find_brain_tumor_cases, msd)
    assert "dataset.json: 'training' entries must be {'image': ..., 'label': ...}" in text
    assert f"{msd / 'imagesTr' / 'BRATS_002.nii.gz'}: no label in dataset.json" in text
    brats = write_brats(tmp_path / "brats", n=1)
    save_nifti(brats / "BraTS2021_00000" / "BraTS2021_00000_t2.nii", np.zeros(SHAPE, np.float32))
    assert "BraTS2021_00000: 2 files for t2 (expected one" in problems_of(find_brain_tumor_cases, brats)


def test_prepare_reports_missing_and_broken_files_together(tmp_path):
    write_brats(tmp_path, n=3)
    (tmp_path / "BraTS2021_00001" / "BraTS2021_00001_t1ce.nii.gz").unlink()
    (tmp_path / "BraTS2021_00002" / "BraTS2021_00002_seg.nii.gz").write_bytes(b"not NIfTI")
    text = problems_of(prepare_brain_tumor_dataset, tmp_path, None)
    assert text.startswith(f"brain tumour dataset {tmp_path}: 2 problem(s)")
    assert "BraTS2021_00001: missing t1ce" in text and "BraTS2021_00002_seg.nii.gz: not a readable NIfTI" in text


def test_invertd_brings_a_prediction_back_to_the_input_grid(tmp_path):
    item = find_brain_tumor_cases(write_msd(tmp_path / "data", n=1))[0]
    keys = ["image", "label"]
    preprocessing = Compose(
        [
            LoadBrainTumorCased(),
            Orientationd(keys, axcodes="RAS"),
            Spacingd(keys, pixdim=(1.5, 2.5, 2.0), mode=("bilinear", "nearest")),
        ]
    )
    data = preprocessing(item)
    assert data["image"].shape[1:] != SHAPE  # resampled and reoriented
    data["pred"] = data["label"].clone()  # a perfect prediction, on the network's grid
    data = Invertd("pred", preprocessing, orig_keys="label", nearest_interp=True)(data)
    SaveImage(output_dir=tmp_path / "out", output_postfix="pred", separate_folder=False, print_log=False)(data["pred"])
    saved = nib.load(tmp_path / "out" / "BRATS_001_pred.nii.gz")
    assert saved.shape == SHAPE
    np.testing.assert_allclose(saved.affine, AFFINE, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(saved.dataobj), brain_label())


def test_inference_inputs_from_a_json_datalist(tmp_path):
    msd = write_msd(tmp_path / "msd", n=2)
    brats = write_brats(tmp_path / "brats", n=1)
    case = brats / "BraTS2021_00000"
    four = [f"../brats/BraTS2021_00000/BraTS2021_00000_{m}.nii.gz" for m in ("flair", "t1", "t1ce", "t2")]
    listing = {"testing": ["../msd/imagesTr/BRATS_001.nii.gz", {"image": four, "case": "patient_a"}]}
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "test.json").write_text(json.dumps(listing))
    items = find_brain_tumor_images(tmp_path / "lists" / "test.json")
    assert [i["case"] for i in items] == ["BRATS_001", "patient_a"]
    assert items[0]["image"] == str(msd / "imagesTr" / "BRATS_001.nii.gz")
    assert items[1]["image"][0] == str(case / "BraTS2021_00000_flair.nii.gz")
    assert all("label" not in i for i in items)


def test_a_broken_json_datalist_names_the_file_and_entry(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"testing": [{"img": "x.nii.gz"}]}))
    assert "entry 0 must be a NIfTI path" in problems_of(find_brain_tumor_images, tmp_path / "bad.json")
    (tmp_path / "missing.json").write_text(json.dumps(["nowhere.nii.gz"]))
    assert f"{tmp_path / 'nowhere.nii.gz'}: file not found" in problems_of(
        find_brain_tumor_images, tmp_path / "missing.json"
    )
    (tmp_path / "empty.json").write_text("{}")
    with pytest.raises(DatasetError, match="expected a non-empty list"):
        find_brain_tumor_images(tmp_path / "empty.json")
