import logging

import pytest

from medunet.data.discovery import DatasetError, prepare_dataset, raise_problems, visible_entries
from tests.data.layouts import problems_of

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
    with caplog.at_level(logging.INFO, logger="medunet.data.discovery"):
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
