import json

import nibabel as nib
import numpy as np
import pytest
import tifffile

from medunet.data.io import atomic_path, write_json, write_nifti, write_tiff


def _interrupted_write(target):
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.endswith(".nii.gz") and tmp != target
        tmp.write_text("half")
        raise RuntimeError("interrupted")


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "sub" / "x.nii.gz"
    with pytest.raises(RuntimeError, match="interrupted"):
        _interrupted_write(target)
    assert list(target.parent.iterdir()) == []


def test_writers_round_trip(tmp_path):
    data = np.arange(24, dtype=np.uint16).reshape(4, 6)
    assert np.array_equal(tifffile.imread(write_tiff(tmp_path / "a.tif", data)), data)
    assert json.loads(write_json(tmp_path / "d.json", {"a": [1]}).read_text()) == {"a": [1]}
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    affine[:3, 3] = (-5, -6, -7)
    img = nib.load(write_nifti(tmp_path / "v.nii.gz", np.ones((3, 4, 5, 2), np.float32), affine))
    assert img.shape == (3, 4, 5, 2) and img.get_data_dtype() == np.float32
    assert np.allclose(img.get_qform(), affine) and np.allclose(img.get_sform(), affine)
    assert img.header["qform_code"] == 1 and img.header["sform_code"] == 1
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["a.tif", "d.json", "v.nii.gz"]  # no temporaries left


def test_atomic_files_get_the_usual_permissions(tmp_path):
    import os

    with atomic_path(tmp_path / "out.json") as tmp:
        tmp.write_text("{}")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == 0o666 & ~mask
