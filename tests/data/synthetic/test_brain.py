import json
import time

import nibabel as nib
import numpy as np
import pytest
from monai.bundle import ConfigParser
from monai.data import load_decathlon_datalist
from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged
from scipy import ndimage

from medunet.data.synthetic.brain import FOV_MM, brain_affine, make_brain_tumor_cases
from medunet.transforms import MapBratsLabelsToMSD

FLAIR, T1, T1GD, T2 = range(4)


@pytest.fixture(scope="module")
def cases():
    return make_brain_tumor_cases(4, seed=0)


def test_types_shapes_and_affine(cases):
    images, labels, affine = cases
    assert images.shape == (4, 4, 64, 64, 48) and images.dtype == np.float32
    assert labels.shape == (4, 64, 64, 48) and labels.dtype == np.uint8
    assert np.all(images >= 0)
    assert np.allclose(np.diag(affine)[:3], 3.0)  # 64 x 64 x 48 voxels of 3 mm cover the field of view
    assert np.allclose(affine[:3, :3] @ (np.array([63, 63, 47]) / 2) + affine[:3, 3], 0)  # centred volume
    assert np.allclose(brain_affine((96, 96, 64))[:3, :3], 2 * np.eye(3))
    assert all(n * 3.0 >= f for n, f in zip((64, 64, 48), FOV_MM))


def test_every_case_has_all_tumor_labels_nested(cases):
    _, labels, _ = cases
    for label in labels:
        counts = np.bincount(label.ravel(), minlength=4)
        assert set(np.unique(label)) <= {0, 1, 2, 3}
        assert counts[1] > 0 and counts[3] > 0
        # edema surrounds the core (where it does not meet CSF or the midline)
        core_border = ndimage.binary_dilation(label >= 2) & (label < 2)
        assert np.mean(label[core_border] == 1) > 0.3


def test_some_cases_have_a_necrotic_centre_inside_the_enhancing_rim(cases):
    _, labels, _ = cases
    enclosed = [
        np.mean(ndimage.binary_fill_holes(lab == 3)[lab == 2]) if np.sum(lab == 2) > 20 else 0 for lab in labels
    ]
    assert max(enclosed) > 0.9


def test_mri_contrasts(cases):
    images, labels, _ = cases
    for image, label in zip(images, labels):
        whole = label > 0
        ring = ndimage.binary_dilation(whole, iterations=3) & ~whole  # surrounding normal tissue
        mean = {name: image[:, mask].mean(axis=1) for name, mask in [("ring", ring), ("edema", label == 1)]}
        mean["enhancing"] = image[:, label == 3].mean(axis=1)
        assert mean["edema"][FLAIR] > 1.3 * mean["ring"][FLAIR]  # FLAIR: edema bright
        assert mean["enhancing"][T1GD] > 1.3 * mean["ring"][T1GD]  # T1gd: enhancing rim bright
        assert mean["enhancing"][T1GD] > 1.3 * mean["edema"][T1GD]
        assert image[T1GD][label == 3].mean() / image[T1][label == 3].mean() > 1.5 * (
            image[T1GD][ring].mean() / image[T1][ring].mean()
        )  # gadolinium brightens the rim, not the surroundings
        assert mean["edema"][T2] > 1.2 * mean["ring"][T2]  # T2: edema bright
        assert mean["edema"][T1] < mean["ring"][T1]  # T1: tumour hypo-intense


def test_cases_differ_and_are_reproducible(cases):
    images, labels, _ = cases
    centroids = np.array([ndimage.center_of_mass(label > 0) for label in labels])
    volumes = np.array([np.count_nonzero(label) for label in labels])
    assert np.linalg.norm(centroids[:, None] - centroids[None], axis=-1)[np.triu_indices(4, 1)].min() > 3
    assert volumes.max() > 1.5 * volumes.min()
    scales = images.reshape(4, 4, -1).max(axis=-1)
    assert np.ptp(scales / scales[:, :1], axis=0)[1:].max() > 0.1  # intensity scales vary per case and modality
    again, again_labels, _ = make_brain_tumor_cases(2, seed=0)
    assert np.array_equal(again, images[:2]) and np.array_equal(again_labels, labels[:2])


def test_tumor_lies_inside_the_head(cases):
    images, labels, _ = cases
    for image, label in zip(images, labels):
        head = ndimage.binary_fill_holes(ndimage.gaussian_filter(image[T1], 1) > 0.2 * image[T1].max())
        assert np.all(head[label > 0])


def test_skull_stripped_and_options():
    images, labels, affine = make_brain_tumor_cases(1, shape=(33, 35, 30), seed=2, spacing=5.0, skull_stripped=True)
    assert images.shape == (1, 4, 33, 35, 30) and np.allclose(np.diag(affine)[:3], 5.0)
    assert np.all(images[0, :, 0, 0, 0] == 0) and np.all(images[0][:, labels[0] > 0] > 0)
    with pytest.raises(ValueError, match="shape"):
        make_brain_tumor_cases(1, shape=(64, 64))
    with pytest.raises(ValueError, match="spacing"):
        make_brain_tumor_cases(1, spacing=-1)


def test_fast():
    start = time.perf_counter()
    make_brain_tumor_cases(1, shape=(96, 96, 96), seed=1)
    assert time.perf_counter() - start < 1.5


def test_write_msd_dataset_from_config_and_load_with_monai(tmp_path):
    config = {
        "ds": {
            "_target_": "medunet.data.synthetic.write_msd_dataset",
            "directory": str(tmp_path),
            "n": 2,
            "shape": [24, 26, 20],
            "seed": 5,
        }
    }
    dataset = ConfigParser(config).get_parsed_content("ds")
    on_disk = json.loads((tmp_path / "dataset.json").read_text())
    assert on_disk == dataset
    assert on_disk["modality"] == {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"}
    assert on_disk["labels"]["3"] == "enhancing tumour" and on_disk["numTraining"] == 2 and on_disk["test"] == []
    assert on_disk["training"][1] == {"image": "./imagesTr/BRATS_002.nii.gz", "label": "./labelsTr/BRATS_002.nii.gz"}
    images, labels, affine = make_brain_tumor_cases(2, shape=(24, 26, 20), seed=5)
    image = nib.load(tmp_path / "imagesTr" / "BRATS_001.nii.gz")
    assert image.shape == (24, 26, 20, 4) and image.get_data_dtype() == np.float32
    assert np.allclose(image.get_qform(), affine) and np.allclose(image.get_sform(), affine)
    assert nib.aff2axcodes(image.affine) == ("R", "A", "S")
    datalist = load_decathlon_datalist(tmp_path / "dataset.json", data_list_key="training", base_dir=tmp_path)
    load = Compose([LoadImaged(["image", "label"]), EnsureChannelFirstd(["image", "label"])])
    item = load(datalist[0])
    assert np.allclose(item["image"].numpy(), images[0]) and np.array_equal(item["label"][0].numpy(), labels[0])
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        "BRATS_001.nii.gz", "BRATS_001.nii.gz", "BRATS_002.nii.gz", "BRATS_002.nii.gz", "dataset.json"
    ]  # fmt: skip


def test_write_brats_dataset_layout_and_numbering(tmp_path):
    config = {"_target_": "medunet.data.synthetic.write_brats_dataset", "directory": str(tmp_path), "n": 2}
    items = ConfigParser({"items": {**config, "shape": [20, 22, 18], "seed": 1}}).get_parsed_content("items")
    _, labels, _ = make_brain_tumor_cases(2, shape=(20, 22, 18), seed=1, skull_stripped=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BraTS2021_00000", "BraTS2021_00001"]
    names = sorted(p.name for p in (tmp_path / "BraTS2021_00001").iterdir())
    assert names == [f"BraTS2021_00001_{s}.nii.gz" for s in ("flair", "seg", "t1", "t1ce", "t2")]
    assert [p.rsplit("_", 1)[1] for p in items[0]["image"]] == ["flair.nii.gz", "t1.nii.gz", "t1ce.nii.gz", "t2.nii.gz"]
    seg = np.asarray(nib.load(items[1]["label"]).dataobj)
    assert set(np.unique(seg)) <= {0, 1, 2, 4} and 4 in seg
    assert np.array_equal(MapBratsLabelsToMSD()(seg), labels[1])
