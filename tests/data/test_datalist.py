import json
import logging
import random

import numpy as np
import pytest
import tifffile
import torch
from monai.bundle import ConfigParser
from monai.data import MetaTensor, load_decathlon_datalist
from PIL import Image

from medunet.data.datalist import (
    DatasetError,
    SaveLabelImaged,
    SaveNiftid,
    load_or_create_split,
    prepare_dataset,
    protected_files,
    raise_problems,
    split_cases,
    visible_entries,
    write_label_image,
)
from tests.data.layouts import problems_of


def cases(n, folder="/data"):
    return [
        {"image": f"{folder}/img_{i:02d}.nii.gz", "label": f"{folder}/lab_{i:02d}.nii.gz", "case": f"c{i:02d}"}
        for i in range(n)
    ]


def ids(items):
    return [item["case"] for item in items]


# DatasetError


def test_dataset_error_lists_every_problem_up_to_a_cap():
    problems = [f"/d/f{i}.nii: file not found" for i in range(23)]
    with pytest.raises(DatasetError) as info:
        raise_problems(problems, "brain tumour dataset /d")
    text = str(info.value)
    assert isinstance(info.value, ValueError) and info.value.problems == problems
    assert text.splitlines()[0] == "brain tumour dataset /d: 23 problem(s)"
    assert "/d/f19.nii: file not found" in text and "/d/f20.nii" not in text
    assert text.splitlines()[-1].strip() == "... and 3 more problem(s)"


def test_no_problems_raise_nothing():
    raise_problems([], "anything")


# split_cases


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
    with caplog.at_level(logging.WARNING, logger="medunet.data.datalist"):
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


# prepare_dataset


def find_marker(folder):
    """A toy layout: a folder holding ``marker.txt``."""
    items = [{"image": str(p), "name": p.stem} for p in visible_entries(folder) if p.name == "marker.txt"]
    if not items:
        raise DatasetError(f"{folder}: no marker.txt (expected the toy layout)")
    return items


def make_marker(folder):
    with open(f"{folder}/marker.txt", "w") as f:
        f.write("x")


@pytest.mark.parametrize("state", ["missing", "empty", "only hidden files"])
def test_prepare_generates_into_a_missing_or_empty_folder(tmp_path, caplog, state):
    folder = tmp_path / "data"
    if state != "missing":
        folder.mkdir()
    if state == "only hidden files":
        (folder / ".DS_Store").write_text("")
    calls = []
    with caplog.at_level(logging.INFO, logger="medunet.data.datalist"):
        items = prepare_dataset(folder, lambda d: calls.append(d) or make_marker(d), find=find_marker)
    assert f"no dataset found in {folder}: generating the synthetic dataset there" in caplog.text
    assert len(calls) == 1 and items[0]["image"] == str(folder / "marker.txt")
    assert sorted(p.name for p in folder.iterdir() if p.name != ".DS_Store") == ["marker.txt"]  # no staging left


def test_prepare_uses_an_existing_dataset_and_refuses_other_folders(tmp_path):
    make_marker(tmp_path)
    generate = pytest.fail  # must not be called
    assert prepare_dataset(tmp_path, generate, find=find_marker)[0]["name"] == "marker"
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("my files")
    with pytest.raises(DatasetError, match=f"{other}: no marker.txt"):
        prepare_dataset(other, generate, find=find_marker)
    assert [p.name for p in other.iterdir()] == ["notes.txt"]
    with pytest.raises(DatasetError, match="not a folder"):
        prepare_dataset(other / "notes.txt", generate, find=find_marker)


def test_prepare_runs_the_check(tmp_path):
    def check(items):
        raise DatasetError(f"{items[0]['image']}: bad")

    with pytest.raises(DatasetError, match=r"marker\.txt: bad"):
        prepare_dataset(tmp_path / "d", make_marker, find=find_marker, check=check)


def test_failed_generation_leaves_no_partial_dataset(tmp_path):
    def broken(folder):
        make_marker(folder)
        raise RuntimeError("generator crashed")

    with pytest.raises(RuntimeError, match="generator crashed"):
        prepare_dataset(tmp_path / "d", broken, find=find_marker)
    assert list((tmp_path / "d").iterdir()) == []
    with pytest.raises(DatasetError, match="wrote nothing"):
        prepare_dataset(tmp_path / "d", lambda folder: None, find=find_marker)


def test_prepare_without_generator_reports_the_empty_folder(tmp_path):
    with pytest.raises(DatasetError, match=f"{tmp_path}: no marker.txt"):
        prepare_dataset(tmp_path, None, find=find_marker)


# write_label_image / SaveLabelImaged


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
        "saver": {"_target_": "medunet.data.datalist.SaveLabelImaged", "keys": "pred", "output_dir": str(tmp_path)}
    }
    saver = ConfigParser(config).get_parsed_content("saver")
    saver({"name": "c", "pred": np.ones((1, 2, 3), np.int32)})
    assert (tmp_path / "c_pred.tif").is_file()


def test_prepare_merges_discovery_and_check_problems(tmp_path):
    make_marker(tmp_path)

    def find_partly(folder):
        raise_problems([f"{folder}/lost.txt: missing"], f"toy dataset {folder}", items=find_marker(folder))

    def check_fails(items):
        raise_problems([f"{items[0]['image']}: broken"], "check")

    text = problems_of(prepare_dataset, tmp_path, find=find_partly, check=check_fails)
    assert text.splitlines() == [
        f"toy dataset {tmp_path}: 2 problem(s)",
        f"  {tmp_path}/lost.txt: missing",
        f"  {tmp_path / 'marker.txt'}: broken",
    ]
    text = problems_of(prepare_dataset, tmp_path, find=find_partly, check=len)
    assert text.splitlines()[1:] == [f"  {tmp_path}/lost.txt: missing"]  # the check passes, the discovery error stays


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
