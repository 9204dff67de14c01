import json
import logging
import random

import pytest
from monai.data import load_decathlon_datalist

from medunet.data.discovery import DatasetError
from medunet.data.splits import load_or_create_split, split_cases


def cases(n, folder="/data"):
    return [
        {"image": f"{folder}/img_{i:02d}.nii.gz", "label": f"{folder}/lab_{i:02d}.nii.gz", "case": f"c{i:02d}"}
        for i in range(n)
    ]


def ids(items):
    return [item["case"] for item in items]


def test_split_is_deterministic_and_independent_of_input_order():
    items = cases(10)
    split = split_cases(items, val_fraction=0.2, seed=0)
    shuffled = items[:]
    random.Random(1).shuffle(shuffled)
    assert split_cases(shuffled, val_fraction=0.2, seed=0) == split
    assert len(split["validation"]) == 2 and len(split["training"]) == 8
    assert sorted(ids(split["training"]) + ids(split["validation"])) == ids(items)
    assert ids(split["training"]) == sorted(ids(split["training"]))


def test_seed_changes_the_split():
    items = cases(20)
    assert ids(split_cases(items, seed=0)["validation"]) != ids(split_cases(items, seed=1)["validation"])


def test_adding_a_case_moves_at_most_one_other():
    before = set(ids(split_cases(cases(30), num_val=6)["validation"]))
    after = set(ids(split_cases(cases(31), num_val=6)["validation"]))
    assert len(before - after) <= 1


@pytest.mark.parametrize(
    ("n", "kwargs", "num_val"),
    [(1, {}, 0), (2, {}, 1), (3, {"val_fraction": 0.9}, 2), (10, {"val_fraction": 0}, 0), (5, {"num_val": 4}, 4)],
)
def test_validation_count(n, kwargs, num_val):
    split = split_cases(cases(n), **kwargs)
    assert len(split["validation"]) == num_val and len(split["training"]) == n - num_val


@pytest.mark.parametrize("kwargs", [{"num_val": 5}, {"num_val": -1}, {"val_fraction": 1.0}, {"val_fraction": -0.1}])
def test_bad_split_sizes_raise(kwargs):
    with pytest.raises(ValueError, match=r"num_val|val_fraction"):
        split_cases(cases(5), **kwargs)


def test_split_by_name_and_duplicates():
    named = [{"image": f"/x/{i}.tif", "name": f"n{i}"} for i in range(4)]
    assert len(split_cases(named, num_val=1)["validation"]) == 1
    with pytest.raises(DatasetError, match="n1: case id used 2 times"):
        split_cases([*named, named[1]])
    with pytest.raises(ValueError, match="no case id"):
        split_cases([{"image": "/x/a.tif"}])


# load_or_create_split


def test_split_file_is_written_relative_and_reused(tmp_path):
    items = cases(6, str(tmp_path / "data"))
    path = tmp_path / "data" / "datalist.json"
    split = load_or_create_split(path, items, val_fraction=0.34)
    stored = json.loads(path.read_text())
    assert stored["training"][0]["image"].startswith("img_") and len(stored["validation"]) == 2
    assert [f.name for f in path.parent.iterdir()] == ["datalist.json"]  # no temporary file left
    assert split == split_cases(items, val_fraction=0.34)
    # a resumed run with the items in another order keeps the file and the split
    mtime = path.stat().st_mtime_ns
    assert load_or_create_split(path, items[::-1], val_fraction=0.34) == split
    assert path.stat().st_mtime_ns == mtime
    # MONAI reads it as a decathlon datalist with absolute paths
    validation = load_decathlon_datalist(str(path), data_list_key="validation")
    assert [v["image"] for v in validation] == [v["image"] for v in split["validation"]]


def test_paths_outside_the_base_dir_are_stored_absolute(tmp_path):
    items = cases(3, str(tmp_path / "elsewhere"))
    load_or_create_split(tmp_path / "split" / "datalist.json", items, base_dir=tmp_path / "data")
    stored = json.loads((tmp_path / "split" / "datalist.json").read_text())
    stored_images = [i["image"] for i in stored["training"] + stored["validation"]]
    assert sorted(stored_images) == [str(tmp_path / "elsewhere" / f"img_{i:02d}.nii.gz") for i in range(3)]


def test_hand_edited_split_of_the_same_cases_is_kept(tmp_path):
    items = cases(4, str(tmp_path))
    path = tmp_path / "split.json"
    load_or_create_split(path, items, num_val=1)
    stored = json.loads(path.read_text())
    stored["validation"].append(stored["training"].pop())
    del stored["split"]
    path.write_text(json.dumps(stored))
    split = load_or_create_split(path, items, num_val=1)
    assert len(split["validation"]) == 2


def test_changed_dataset_or_settings_give_a_new_split(tmp_path, caplog):
    path = tmp_path / "split.json"
    load_or_create_split(path, cases(4, str(tmp_path)), num_val=1)
    with caplog.at_level(logging.WARNING, logger="medunet.data.splits"):
        split = load_or_create_split(path, cases(5, str(tmp_path)), num_val=1)
    assert "1 new case(s), 0 gone" in caplog.text
    assert len(split["training"]) == 4
    assert len(json.loads(path.read_text())["training"]) == 4
    split = load_or_create_split(path, cases(5, str(tmp_path)), num_val=2)
    assert len(json.loads(path.read_text())["validation"]) == 2 == len(split["validation"])


@pytest.mark.parametrize(
    "content",
    [
        {"training": [{"image": "img_00.nii.gz", "case": "c00"}], "validation": []},  # hand-written, other cases
        {"name": "BRATS", "training": []},  # e.g. MSD's dataset.json
        "not json {",
    ],
)
def test_foreign_files_are_never_overwritten(tmp_path, content):
    path = tmp_path / "dataset.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    before = path.read_text()
    with pytest.raises(DatasetError, match=str(path)):
        load_or_create_split(path, cases(3, str(tmp_path)))
    assert path.read_text() == before
