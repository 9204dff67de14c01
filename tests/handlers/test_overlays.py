import numpy as np
import pytest
import torch
from ignite.engine import Engine
from monai.data import MetaTensor
from PIL import Image

from medunet.handlers import OverlayWriter, save_overlay


def test_3d_overlay_png(tmp_path):
    image = np.random.default_rng(0).random((20, 18, 12)).astype(np.float32)
    pred = np.zeros((1, 20, 18, 12), np.uint8)
    pred[0, 5:10, 5:10, 3:8] = 1
    pred[0, 6:8, 6:8, 4:6] = 3
    path = save_overlay(tmp_path / "case_overlay.png", image, pred, pred, num_slices=3)
    with Image.open(path) as png:
        assert png.format == "PNG"
        assert png.size[0] > png.size[1] // 2  # three columns: image, ground truth, prediction
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_2d_outlines(tmp_path):
    labels = np.zeros((32, 32), np.int32)
    labels[4:12, 4:12], labels[12:20, 4:12] = 1, 2
    save_overlay(tmp_path / "cells.png", np.random.default_rng(1).random((1, 32, 32)), labels, mode="outlines")
    assert (tmp_path / "cells.png").stat().st_size > 0


def test_mismatched_shapes_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="one spatial shape"):
        save_overlay(tmp_path / "x.png", np.zeros((8, 8, 8)), np.zeros((8, 8, 6)))
    assert not (tmp_path / "x.png").exists()


def test_writer_names_files_after_the_input(tmp_path):
    engine = Engine(lambda e, b: None)
    writer = OverlayWriter(tmp_path, pred_key="pred", label_key=None, num_slices=2)
    writer.attach(engine)
    pred = MetaTensor(torch.zeros(1, 8, 8, 6), meta={"filename_or_obj": "/data/BRATS_007.nii.gz"})
    engine.state.output = [{"image": torch.rand(4, 8, 8, 6), "pred": pred}]
    writer(engine)
    assert (tmp_path / "BRATS_007_overlay.png").exists()


def test_writer_never_replaces_a_protected_input(tmp_path):
    engine = Engine(lambda e, b: None)
    source = tmp_path / "a_overlay.png"
    source.write_bytes(b"an input image")
    writer = OverlayWriter(tmp_path, label_key=None, mode="outlines", name_key="name", protect=[{"image": str(source)}])
    engine.state.output = [{"image": torch.rand(1, 8, 8), "pred": torch.zeros(1, 8, 8), "name": "a"}]
    with pytest.raises(ValueError, match="input file"):
        writer(engine)
    assert source.read_bytes() == b"an input image"
