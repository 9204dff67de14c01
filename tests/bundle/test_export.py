import json
import subprocess
import sys

import pytest

from medunet.bundle import export_bundle


def make_bundle(root):
    shared = root / "configs"
    shared.mkdir(parents=True)
    (shared / "train.json").write_text(json.dumps({"seed": 0}))
    bundle = root / "bundles" / "demo"
    (bundle / "configs").mkdir(parents=True)
    (bundle / "configs" / "metadata.json").write_text("{}")
    (bundle / "configs" / "shared").symlink_to("../../../configs")
    for name in (
        "models/model.pt",
        "models/checkpoint_epoch=3.pt",
        "models/datalist.json",
        "data/case.nii.gz",
        "data_test/images/cell_000.tif",
        "eval/metrics.csv",
        "runs/events",
        "docs/README.md",
        "LICENSE",
    ):
        (bundle / name).parent.mkdir(parents=True, exist_ok=True)
        (bundle / name).write_text(name)
    return bundle


def test_export_resolves_shared_configs_and_keeps_only_what_a_receiver_needs(tmp_path):
    bundle = make_bundle(tmp_path / "repo")
    out = export_bundle(bundle, tmp_path / "out" / "demo")
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == [
        "LICENSE",
        "configs/metadata.json",
        "configs/shared/train.json",
        "docs/README.md",
        "models/model.pt",
    ]
    assert not (out / "configs" / "shared").is_symlink()


def test_export_refuses_a_non_empty_target_and_a_non_bundle(tmp_path):
    bundle = make_bundle(tmp_path / "repo")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        export_bundle(bundle, tmp_path / "busy")
    with pytest.raises(ValueError, match=r"metadata\.json is missing"):
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
    assert bad.returncode == 2
    assert "metadata.json is missing" in bad.stderr
