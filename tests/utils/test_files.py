import json

import pytest

from medunet.utils.files import atomic_path, write_json


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


def test_write_json_round_trip(tmp_path):
    assert json.loads(write_json(tmp_path / "d.json", {"a": [1]}).read_text()) == {"a": [1]}
    assert [p.name for p in tmp_path.iterdir()] == ["d.json"]  # no temporaries left


def test_atomic_files_get_the_usual_permissions(tmp_path):
    import os

    with atomic_path(tmp_path / "out.json") as tmp:
        tmp.write_text("{}")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == 0o666 & ~mask
