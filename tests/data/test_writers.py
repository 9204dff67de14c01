import nibabel as nib
import numpy as np
import pytest
import tifffile
import torch
from monai.bundle import ConfigParser
from monai.data import MetaTensor
from PIL import Image

from medunet.data.writers import (
    SaveLabelImaged,
    SaveNiftid,
    protected_files,
    write_label_image,
    write_nifti,
    write_tiff,
)


@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_write_label_image_round_trip(tmp_path, suffix):
    labels = np.zeros((1, 5, 7), np.int64)
    labels[0, 1:3, 2:6], labels[0, 4, 0] = 300, 65535
    path = write_label_image(tmp_path / "out" / f"x{suffix}", torch.from_numpy(labels))
    read = tifffile.imread(path) if suffix == ".tif" else np.array(Image.open(path))
    assert read.dtype == np.uint16 and read.shape == (5, 7)
    np.testing.assert_array_equal(read, labels[0])
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_write_label_image_large_ids_and_bad_input(tmp_path):
    labels = np.array([[0, 70000]])
    assert tifffile.imread(write_label_image(tmp_path / "big.tif", labels)).dtype == np.uint32
    with pytest.raises(ValueError, match="16-bit PNG"):
        write_label_image(tmp_path / "big.png", labels)
    with pytest.raises(ValueError, match="non-negative"):
        write_label_image(tmp_path / "neg.tif", -labels)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        write_label_image(tmp_path / "3d.tif", np.zeros((2, 3, 4), int))
    with pytest.raises(ValueError, match="jpg"):
        write_label_image(tmp_path / "x.jpg", labels)


def test_write_label_image_refuses_input_files(tmp_path):
    source = tmp_path / "images" / "a.tif"
    source.parent.mkdir()
    tifffile.imwrite(source, np.full((3, 3), 9, np.uint16))
    with pytest.raises(ValueError, match=r"refusing to write .*a\.tif: it is an input file"):
        write_label_image(tmp_path / "images" / ".." / "images" / "a.tif", np.zeros((3, 3), int), protect=[source])
    assert tifffile.imread(source).max() == 9


def test_save_label_imaged_names_outputs_and_protects_inputs(tmp_path):
    label = np.zeros((1, 4, 6), np.int32)
    label[0, 1:3, 1:4] = 5
    out = tmp_path / "pred"
    saver = SaveLabelImaged(keys=["instances", "semantic"], output_dir=out, output_postfix=["inst", "sem"])
    saver({"image": "/data/a.tif", "name": "a", "instances": label, "semantic": (label > 0).astype(np.int32)})
    assert sorted(p.name for p in out.iterdir()) == ["a_inst.tif", "a_sem.tif"]
    np.testing.assert_array_equal(tifffile.imread(out / "a_inst.tif"), label[0])
    # no name entry: the meta file name and the frame of a stack name the output
    stack = MetaTensor(torch.from_numpy(label), meta={"filename_or_obj": "/data/train-volume.tif", "frame": 4})
    SaveLabelImaged(keys="pred", output_dir=out, output_ext=".png")({"pred": stack})
    assert (out / "train-volume_004_pred.png").is_file()
    # an output that would land on the input image is refused
    (out / "b_pred.tif").write_bytes(b"input")
    with pytest.raises(ValueError, match="input file"):
        SaveLabelImaged(keys="pred", output_dir=out)({"image": str(out / "b_pred.tif"), "name": "b", "pred": label})
    assert (out / "b_pred.tif").read_bytes() == b"input"


def test_savers_never_write_over_another_input_of_the_datalist(tmp_path):
    # a folder segmented into itself: c's output name is the name of another input, d_pred.tif
    (tmp_path / "c.tif").write_bytes(b"c")
    (tmp_path / "c_pred.tif").write_bytes(b"other input")
    datalist = [{"image": str(tmp_path / "c.tif"), "name": "c"}, {"image": str(tmp_path / "c_pred.tif"), "name": "d"}]
    expected = {str(tmp_path / n) for n in ("c.tif", "c_pred.tif", "x.tif")}
    assert protected_files([*datalist, tmp_path / "images" / ".." / "x.tif"]) == expected
    label = np.zeros((1, 4, 4), np.int32)
    with pytest.raises(ValueError, match="input file"):
        SaveLabelImaged("pred", tmp_path, protect=datalist)({**datalist[0], "pred": label})
    assert (tmp_path / "c_pred.tif").read_bytes() == b"other input"
    volume = MetaTensor(torch.zeros(1, 2, 2, 2), affine=torch.eye(4))
    (tmp_path / "v_seg.nii.gz").write_bytes(b"other input")
    with pytest.raises(ValueError, match="input file"):
        SaveNiftid("pred", tmp_path, protect=[tmp_path / "v_seg.nii.gz"])({"case": "v", "pred": volume})
    assert (tmp_path / "v_seg.nii.gz").read_bytes() == b"other input"


def test_save_label_imaged_options():
    with pytest.raises(ValueError, match="output_postfix"):
        SaveLabelImaged(keys=["a", "b"], output_dir="/tmp", output_postfix="same")
    with pytest.raises(ValueError, match="output_ext"):
        SaveLabelImaged(keys="a", output_dir="/tmp", output_ext=".jpg")
    with pytest.raises(ValueError, match="cannot name"):
        SaveLabelImaged(keys="a", output_dir="/tmp")({"a": np.zeros((1, 2, 2), int)})


def test_save_label_imaged_from_config(tmp_path):
    config = {
        "saver": {"_target_": "medunet.data.writers.SaveLabelImaged", "keys": "pred", "output_dir": str(tmp_path)}
    }
    saver = ConfigParser(config).get_parsed_content("saver")
    saver({"name": "c", "pred": np.ones((1, 2, 3), np.int32)})
    assert (tmp_path / "c_pred.tif").is_file()


def test_save_nifti_writes_the_label_map_on_the_input_grid(tmp_path):
    import nibabel as nib

    affine = torch.tensor([[-2.0, 0, 0, 10], [0, 2, 0, -5], [0, 0, 3, 1], [0, 0, 0, 1]], dtype=torch.float64)
    labels = torch.zeros(1, 6, 5, 4, dtype=torch.uint8)
    labels[0, 1:3, 2:4, 1] = 3
    pred = MetaTensor(labels, affine=affine, meta={"filename_or_obj": str(tmp_path / "in" / "BRATS_004.nii.gz")})
    SaveNiftid("pred", tmp_path / "out")({"pred": pred})
    saved = nib.load(tmp_path / "out" / "BRATS_004_seg.nii.gz")
    np.testing.assert_array_equal(np.asarray(saved.dataobj), labels[0].numpy())
    np.testing.assert_allclose(saved.affine, affine.numpy())
    assert saved.get_data_dtype() == np.uint8
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["BRATS_004_seg.nii.gz"]


def test_save_nifti_never_writes_over_an_input(tmp_path):
    source = tmp_path / "case_seg.nii.gz"
    source.write_bytes(b"original")
    pred = MetaTensor(torch.zeros(1, 4, 4, 4), meta={"filename_or_obj": str(source)})
    with pytest.raises(ValueError, match="input file"):
        SaveNiftid("pred", tmp_path, name_key="case")({"pred": pred, "case": "case", "image": str(source)})
    assert source.read_bytes() == b"original"
    with pytest.raises(TypeError, match="MetaTensor"):
        SaveNiftid("pred", tmp_path)({"pred": torch.zeros(1, 4, 4, 4), "case": "x"})


def test_writers_round_trip(tmp_path):
    data = np.arange(24, dtype=np.uint16).reshape(4, 6)
    assert np.array_equal(tifffile.imread(write_tiff(tmp_path / "a.tif", data)), data)
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    affine[:3, 3] = (-5, -6, -7)
    img = nib.load(write_nifti(tmp_path / "v.nii.gz", np.ones((3, 4, 5, 2), np.float32), affine))
    assert img.shape == (3, 4, 5, 2) and img.get_data_dtype() == np.float32
    assert np.allclose(img.get_qform(), affine) and np.allclose(img.get_sform(), affine)
    assert img.header["qform_code"] == 1 and img.header["sform_code"] == 1
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["a.tif", "v.nii.gz"]  # no temporaries left
