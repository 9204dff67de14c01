"""The cell segmentation bundle, tested the way the MONAI model zoo tests bundles, on a tiny synthetic dataset."""

import json

import numpy as np
import tifffile
import torch
from monai.bundle import ckpt_export, verify_metadata, verify_net_in_out

from medunet.data.synthetic import write_cell_dataset
from tests.bundles.conftest import SCHEMA, check_ddp, check_resume

BUNDLE = "cell_segmentation"
# 5 images of 192^2, a 4-level network of width 4 on 188^2 tiles (output 100^2): seconds on a CPU
TINY = {
    "num_epochs": 1,
    "val_interval": 1,
    "synthetic#cases": 5,
    "synthetic#size": [192, 192],
    "channels": [4, 8, 16, 32],
    "tile_size": [188, 188],
    "log_interval": 1,
}
NET = {k: TINY[k] for k in ("channels", "tile_size")}


def test_train_generates_data_splits_and_saves_a_plain_state_dict(trained):
    _, root = trained
    assert len(list((root / "data" / "images").glob("cell_*.tif"))) == 5
    split = json.loads((root / "models" / "datalist.json").read_text())
    assert len(split["training"]) == 4
    assert len(split["validation"]) == 1
    state = torch.load(root / "models" / "model.pt", weights_only=True)
    assert "head.weight" in state
    assert state["head.weight"].shape[0] == 3  # background, cell, border
    assert (root / "models" / "checkpoint_epoch=1.pt").exists()
    assert any((root / "runs").iterdir())  # TensorBoard events


def test_training_samples_are_valid_tiles_with_targets_and_weights(trained):
    bundle, root = trained
    flow = bundle.workflow("train", "train", bundle_root=str(root), **TINY)
    flow.initialize()
    sample = flow.parser.get_parsed_content("train#dataset")[0]
    assert sorted(k for k in ("image", "semantic", "weight", "label") if k in sample) == ["image", "semantic", "weight"]
    for key in ("image", "semantic", "weight"):
        assert tuple(sample[key].shape) == (1, 188, 188)
    assert set(np.unique(sample["semantic"].numpy())) <= {0, 1, 2}
    assert float(sample["weight"].min()) > 0
    assert float(sample["weight"].max()) > 2  # the separation term between touching cells
    assert flow.parser.get_parsed_content("network_def").output_size(188) == 100  # the loss crops to the valid output


def test_images_smaller_than_the_margin_still_give_full_tiles(trained, tmp_path):
    # 40x40 images and a 92 px margin context: mirrored (symmetric) padding repeats as often as needed
    bundle, _ = trained
    small = {**TINY, "synthetic#size": [40, 40], "channels": [4, 8, 16, 32, 64], "tile_size": [188, 188]}
    flow = bundle.workflow("train", "train", bundle_root=str(tmp_path), **small)
    flow.initialize()
    sample = flow.parser.get_parsed_content("train#dataset")[0]
    assert tuple(sample["image"].shape) == tuple(sample["weight"].shape) == (1, 188, 188)


def test_training_resumes_from_the_last_epoch(trained, capsys):
    check_resume(*trained, TINY, capsys)


def test_evaluate_writes_per_image_metrics_summary_plot_and_overlays(trained):
    bundle, root = trained
    bundle.run(
        "evaluate", "train", bundle_root=str(root), **TINY, test_dir=str(root / "test"), **{"synthetic_test#cases": 2}
    )
    rows = (root / "eval" / "metrics.csv").read_text().splitlines()
    assert rows[0] == (
        "case,foreground_iou,true_positives,false_positives,false_negatives,precision,recall,f1,"
        "rand_error,rand_precision,rand_recall,pixel_error"
    )
    assert [r.split(",")[0] for r in rows[1:]] == ["cell_000", "cell_001"]
    values = [float(v) for v in rows[1].split(",")[1:]]
    assert all(0 <= v <= 1 for v in values[:1] + values[4:])
    assert (root / "eval" / "summary.csv").exists()
    assert (root / "eval" / "metrics.png").exists()
    assert sorted(p.name for p in (root / "eval" / "overlays").glob("*.png")) == [
        "cell_000_overlay.png",
        "cell_001_overlay.png",
    ]


def test_inference_writes_instances_semantic_map_and_overlay_for_any_image_size(trained, tmp_path):
    bundle, root = trained
    # an image of another size than the training tiles: overlap-tile inference covers it seamlessly
    items = write_cell_dataset(tmp_path / "new", n=1, size=(150, 230), seed=3)
    image = tmp_path / "new" / "images" / "cell_000.tif"
    before = image.read_bytes()
    bundle.run(
        "inference", "infer", bundle_root=str(root), input_path=str(image), output_dir=str(tmp_path / "pred"), **NET
    )
    instances = tifffile.imread(tmp_path / "pred" / "cell_000_instances.tif")
    semantic = tifffile.imread(tmp_path / "pred" / "cell_000_semantic.tif")
    assert instances.shape == semantic.shape == (150, 230)
    assert instances.dtype == np.uint16
    assert set(np.unique(semantic)) <= {0, 1, 2}
    assert (tmp_path / "pred" / "cell_000_overlay.png").exists()
    assert image.read_bytes() == before
    assert items[0]["image"] == str(image)


def test_inference_never_writes_over_its_input(trained, tmp_path):
    bundle, root = trained
    write_cell_dataset(tmp_path, n=1, size=(96, 96), seed=4)
    image = tmp_path / "images" / "cell_000.tif"
    target = tmp_path / "images" / "cell_000_instances.tif"
    target.write_bytes(image.read_bytes())  # an input that an output would be named after
    overrides = {"input_path": str(tmp_path / "images"), "output_dir": str(tmp_path / "images"), **NET}
    result = bundle.run_cli("inference", root, overrides)
    assert result.returncode != 0
    assert f"refusing to write {target}: it is an input file" in result.stdout + result.stderr
    assert target.read_bytes() == image.read_bytes()


def test_metadata_verifies_offline_with_the_shipped_schema(trained):
    bundle, _ = trained
    verify_metadata(meta_file=str(bundle.meta), filepath=str(SCHEMA))


def test_network_input_and_output_match_the_metadata(trained):
    bundle, _ = trained
    meta = json.loads(bundle.meta.read_text())["network_data_format"]
    # the declared valid sizes: n = 16k + 188 in, 16k + 4 out (a 92 px margin per side)
    from monai.bundle.scripts import _get_fake_spatial_shape

    net = bundle.workflow("inference", "infer").parser.get_parsed_content("network_def")
    for n in (1, 2, 24):
        size = _get_fake_spatial_shape(meta["inputs"]["image"]["spatial_shape"], n=n)
        assert net.output_size(size) == _get_fake_spatial_shape(meta["outputs"]["pred"]["spatial_shape"], n=n)
    # the model zoo's CI: n=1 (MONAI's default), configs/inference.json alone, the bundle folder as bundle_root
    verify_net_in_out(
        net_id="network_def",
        meta_file=str(bundle.meta),
        config_file=bundle.configs("inference")[0],
        bundle_root=str(bundle.root),
        device="cpu",
    )


def test_checkpoint_exports_to_torchscript(trained, tmp_path):
    bundle, root = trained
    config = tmp_path / "net.json"
    config.write_text(json.dumps({"channels": TINY["channels"]}))
    ckpt_export(
        net_id="network_def",
        filepath=str(tmp_path / "model.ts"),
        ckpt_file=str(root / "models" / "model.pt"),
        meta_file=str(bundle.meta),
        config_file=[*bundle.configs("inference"), str(config)],
    )
    scripted = torch.jit.load(str(tmp_path / "model.ts"))
    net = bundle.workflow("inference", "infer", channels=TINY["channels"]).parser.get_parsed_content("network_def")
    net.load_state_dict(torch.load(root / "models" / "model.pt", weights_only=True))
    x = torch.randn(1, 1, 188, 188)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), net.eval()(x), rtol=1e-4, atol=1e-4)


def test_a_wrong_dataset_folder_stops_before_training_with_the_path(trained, tmp_path):
    bundle, _ = trained
    (tmp_path / "data" / "images").mkdir(parents=True)
    (tmp_path / "data" / "labels").mkdir()
    tifffile.imwrite(tmp_path / "data" / "images" / "a.tif", np.zeros((64, 64), np.uint16))
    tifffile.imwrite(tmp_path / "data" / "labels" / "a.tif", np.zeros((64, 32), np.uint16))
    result = bundle.run_cli("train", tmp_path)
    assert result.returncode != 0
    assert f"{tmp_path / 'data' / 'labels' / 'a.tif'}: size 64x32 (expected 64x64" in result.stderr
    assert not (tmp_path / "models" / "model.pt").exists()


def test_two_process_ddp_training_on_cpu(trained, tmp_path):
    bundle, _ = trained
    # 10 images: every process needs at least one validation image
    tiny = {**TINY, "synthetic#cases": 10}
    check_ddp(bundle, tmp_path, tiny)
