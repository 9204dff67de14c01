"""The brain tumour bundle, tested the way the MONAI model zoo tests bundles, on a tiny synthetic dataset."""

import json

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ckpt_export, verify_metadata, verify_net_in_out

from tests.bundles.conftest import SCHEMA, check_ddp, check_resume

BUNDLE = "brain_tumor_segmentation"
# 4 cases of 32^3 voxels, one epoch of 32^3 patches: seconds on a CPU
TINY = {
    "num_epochs": 1,
    "val_interval": 1,
    "synthetic#cases": 4,
    "synthetic#shape": [32, 32, 32],
    "patch_size": [32, 32, 32],
    "log_interval": 1,
}


def test_train_generates_data_splits_and_saves_a_plain_state_dict(trained):
    _, root = trained
    assert (root / "data" / "dataset.json").exists()
    split = json.loads((root / "models" / "datalist.json").read_text())
    assert len(split["training"]) == 3
    assert len(split["validation"]) == 1
    state = torch.load(root / "models" / "model.pt", weights_only=True)
    assert "head.weight" in state
    assert (root / "models" / "checkpoint_epoch=1.pt").exists()
    assert any((root / "runs").iterdir())  # TensorBoard events


def test_training_with_the_same_seed_gives_the_same_weights(trained, tmp_path):
    # bit for bit, bf16 included: a native read of uninitialised memory (see medunet.networks.unet) once broke this
    bundle, _ = trained
    for run in ("first", "again"):
        bundle.run("train", "train", bundle_root=str(tmp_path / run), **TINY)
    first = torch.load(tmp_path / "first" / "models" / "model.pt", weights_only=True)
    again = torch.load(tmp_path / "again" / "models" / "model.pt", weights_only=True)
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_a_run_shorter_than_the_validation_interval_still_saves_a_model(trained, tmp_path):
    bundle, _ = trained
    bundle.run("train", "train", bundle_root=str(tmp_path), **{**TINY, "val_interval": 5})
    assert (tmp_path / "models" / "model.pt").exists()


def test_training_resumes_from_the_last_epoch(trained, capsys):
    check_resume(*trained, TINY, capsys)


def test_evaluate_writes_per_case_metrics_summary_and_overlays(trained):
    bundle, root = trained
    bundle.run(
        "evaluate", "train", bundle_root=str(root), **TINY, test_dir=str(root / "test"), **{"synthetic_test#cases": 2}
    )
    rows = (root / "eval" / "metrics.csv").read_text().splitlines()
    assert rows[0] == "case,WT_dice,TC_dice,ET_dice,WT_hd95,TC_hd95,ET_hd95"
    assert len(rows) == 3
    assert (root / "eval" / "summary.csv").exists()
    assert (root / "eval" / "metrics.png").exists()
    assert len(list((root / "eval" / "overlays").glob("*_overlay.png"))) == 2


def test_inference_writes_msd_labels_on_the_input_grid(trained):
    bundle, root = trained
    image = root / "test" / "imagesTr" / "BRATS_001.nii.gz"
    if not image.exists():  # when run alone: a held-out synthetic case
        from medunet.data.synthetic import write_msd_dataset

        write_msd_dataset(root / "test", n=1, shape=(32, 32, 32), seed=1, skull_stripped=True)
    bundle.run(
        "inference",
        "infer",
        bundle_root=str(root),
        input_path=str(image),
        patch_size=[32, 32, 32],
        output_dir=str(root / "pred"),
    )
    source, seg = nib.load(image), nib.load(root / "pred" / "BRATS_001_seg.nii.gz")
    assert seg.shape == source.shape[:3]
    np.testing.assert_allclose(seg.affine, source.affine)
    assert set(np.unique(np.asarray(seg.dataobj))) <= {0, 1, 2, 3}
    assert image.exists()


def test_metadata_verifies_offline_with_the_shipped_schema(trained):
    bundle, _ = trained
    verify_metadata(meta_file=str(bundle.meta), filepath=str(SCHEMA))


def test_metadata_missing_a_required_field_fails(tmp_path, trained):
    bundle, _ = trained
    meta = json.loads(bundle.meta.read_text())
    del meta["network_data_format"]["outputs"]["pred"]["dtype"]
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="dtype"):
        verify_metadata(meta_file=str(tmp_path / "metadata.json"), filepath=str(SCHEMA))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_network_input_and_output_match_the_metadata(trained, n):
    # the model zoo's CI checks n=1 (MONAI's default) with configs/inference.json alone
    bundle, _ = trained
    verify_net_in_out(
        net_id="network_def",
        meta_file=str(bundle.meta),
        config_file=bundle.configs("inference")[0],
        bundle_root=str(bundle.root),
        n=n,
        device="cpu",
    )


def test_checkpoint_exports_to_torchscript(trained, tmp_path):
    bundle, root = trained
    ckpt_export(
        net_id="network_def",
        filepath=str(tmp_path / "model.ts"),
        ckpt_file=str(root / "models" / "model.pt"),
        meta_file=str(bundle.meta),
        config_file=bundle.configs("inference"),
    )
    scripted = torch.jit.load(str(tmp_path / "model.ts"))
    x = torch.randn(1, 4, 32, 32, 32)
    from medunet.networks import unet3d_mri

    net = unet3d_mri()
    net.load_state_dict(torch.load(root / "models" / "model.pt", weights_only=True))
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), net.eval()(x), rtol=1e-4, atol=1e-4)


def test_a_wrong_dataset_folder_stops_before_training_with_the_path(trained, tmp_path):
    bundle, _ = trained
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("not a dataset")
    result = bundle.run_cli("train", tmp_path)
    assert result.returncode != 0
    assert f"{tmp_path / 'data'}: no brain tumour dataset found" in result.stderr
    assert not (tmp_path / "models" / "model.pt").exists()


def test_two_process_ddp_training_on_cpu(trained, tmp_path):
    bundle, _ = trained
    # 10 cases: every process needs at least one validation case
    tiny = {**TINY, "synthetic#cases": 10}
    check_ddp(bundle, tmp_path, tiny)


def test_checkpoint_exports_to_onnx(trained, tmp_path):
    pytest.importorskip("onnxruntime")
    from monai.bundle import onnx_export

    bundle, root = trained
    onnx_export(
        net_id="network_def",
        filepath=str(tmp_path / "model.onnx"),
        ckpt_file=str(root / "models" / "model.pt"),
        meta_file=str(bundle.meta),
        config_file=bundle.configs("inference"),
        input_shape=[1, 4, 32, 32, 32],
        use_trace=True,
        converter_kwargs={"verify": True, "use_ort": True, "rtol": 1e-3, "atol": 1e-3},
    )
    assert (tmp_path / "model.onnx").stat().st_size > 1_000_000
