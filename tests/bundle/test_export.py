import subprocess
import sys

import pytest

from medunet.bundle import export_bundle
from medunet.bundle.files import BundleFileError


def make_bundle(root):
    bundle = root / "bundles" / "demo"
    for name in (
        "configs/metadata.json",
        "configs/train.json",
        "models/model.pt",
        "models/checkpoint_epoch=3.pt",
        "models/datalist.json",
        "data/case.nii.gz",
        "data_test/images/cell_000.tif",
        "eval/metrics.csv",
        "runs/events",
        "predictions/x_seg.nii.gz",
        "docs/README.md",
        "docs/.DS_Store",
        "LICENSE",
    ):
        (bundle / name).parent.mkdir(parents=True, exist_ok=True)
        (bundle / name).write_text(name)
    return bundle


def test_export_keeps_only_what_a_receiver_needs(tmp_path):
    bundle = make_bundle(tmp_path / "repo")
    out = export_bundle(bundle, tmp_path / "out" / "demo")
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["LICENSE", "configs/metadata.json", "configs/train.json", "docs/README.md", "models/model.pt"]
    assert (out / "configs" / "train.json").read_text() == "configs/train.json"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["demo"]  # no staging folder left


def test_export_without_weights(tmp_path):
    out = export_bundle(make_bundle(tmp_path / "repo"), tmp_path / "out", weights=False)
    assert not (out / "models").exists()


def test_export_refuses_links_instead_of_following_them(tmp_path):
    bundle = make_bundle(tmp_path / "repo")
    (tmp_path / "secret.txt").write_text("outside the bundle")
    (bundle / "docs" / "notes.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(BundleFileError, match=r"notes\.txt: a link inside the bundle"):
        export_bundle(bundle, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    (bundle / "docs" / "notes.txt").unlink()
    (bundle / "configs" / "more").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(BundleFileError, match="a link inside the bundle"):
        export_bundle(bundle, tmp_path / "out")


def test_export_refuses_a_non_empty_target_and_a_non_bundle(tmp_path):
    bundle = make_bundle(tmp_path / "repo")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(ValueError, match="not an empty folder"):
        export_bundle(bundle, tmp_path / "busy")
    with pytest.raises(ValueError, match=r"not a bundle folder \(expected configs/metadata\.json\)"):
        export_bundle(tmp_path, tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_export_command_line(tmp_path):
    bundle = make_bundle(tmp_path / "repo")
    ok = subprocess.run(
        [sys.executable, "-m", "medunet.bundle", "export", str(bundle), str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "medunet.bundle", "export", str(tmp_path), str(tmp_path / "p")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    assert bad.stderr.strip() == f"error: {tmp_path}: not a bundle folder (expected configs/metadata.json)"
