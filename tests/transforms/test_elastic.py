import numpy as np
import pytest
import torch
import torch.nn.functional as F
from monai.bundle import ConfigParser
from monai.data import DataLoader, Dataset, MetaTensor
from monai.transforms import Compose, Invertd, SpatialPadd
from monai.utils import set_determinism
from scipy import ndimage

from medunet.transforms import GridElastic3Dd, GridElasticd, PaperElastic2Dd, control_grid_shape, dense_displacement


def blobs(spatial, classes=3, seed=0):
    """A smooth random image and its thresholded label map (values 0..classes-1)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 1, *(max(n // 4, 2) for n in spatial), generator=g)
    mode = "bilinear" if len(spatial) == 2 else "trilinear"
    image = F.interpolate(x, size=spatial, mode=mode, align_corners=False)[0]
    label = torch.bucketize(image, torch.linspace(image.min(), image.max(), classes + 1)[1:-1]).float()
    return image, label


def ramp(spatial, axis):
    """Image whose value is the coordinate along ``axis``."""
    shape = [1] * len(spatial)
    shape[axis] = spatial[axis]
    return torch.arange(spatial[axis], dtype=torch.float32).reshape(shape).expand(spatial)[None].clone()


# ---- the dense field -------------------------------------------------------------------------------------------


def test_control_grid_shape():
    assert control_grid_shape((128, 129, 130), (32, 32, 32)) == (7, 7, 8)
    assert control_grid_shape((1, 33), (32, 32)) == (3, 4)
    assert control_grid_shape((101,), (50.0,)) == (5,)  # 3 points across the image + the ring


@pytest.mark.parametrize("size", [(9, 9), (21, 13)])
def test_bicubic_field_matches_torch_bicubic(size):
    # odd sizes with a 3x3 grid: spacing (size - 1) / 2 is an integer, so torch's align_corners=True upsampling of the
    # 5x5 control grid to 4 * spacing + 1 samples hits exactly the image pixels in its middle half
    torch.manual_seed(0)
    offsets = torch.randn(2, 5, 5)
    spacing = [(n - 1) // 2 for n in size]
    full = F.interpolate(offsets[None], size=[4 * s + 1 for s in spacing], mode="bicubic", align_corners=True)[0]
    expected = full[:, spacing[0] : 3 * spacing[0] + 1, spacing[1] : 3 * spacing[1] + 1]
    field = dense_displacement(offsets, size, spacing, "bicubic")
    assert field.shape == (2, *size)
    assert torch.allclose(field, expected, atol=1e-5)


@pytest.mark.parametrize(("size", "spacing"), [((17, 30), (5, 7.5)), ((9, 12, 7), (4, 3, 2.5))])
def test_bspline_field_matches_scipy_map_coordinates(size, spacing):
    rng = np.random.default_rng(1)
    shape = control_grid_shape(size, spacing)
    offsets = rng.standard_normal((len(size), *shape)).astype(np.float32)
    field = dense_displacement(torch.from_numpy(offsets), size, spacing, "bspline").numpy()
    coords = np.meshgrid(
        *[(m - 1) / 2 + (np.arange(n) - (n - 1) / 2) / g for n, m, g in zip(size, shape, spacing)], indexing="ij"
    )
    for d in range(len(size)):
        expected = ndimage.map_coordinates(offsets[d].astype(np.float64), coords, order=3, mode="mirror")
        np.testing.assert_allclose(field[d], expected, atol=2e-5)


@pytest.mark.parametrize("interpolation", ["bspline", "bicubic"])
def test_field_interpolates_control_points_and_keeps_constants(interpolation):
    torch.manual_seed(2)
    size, spacing = (9, 7, 13), (2, 3, 2)  # control points on voxels 0, 2, .., 8 / 0, 3, 6 / 0, 2, .., 12
    shape = control_grid_shape(size, spacing)
    assert shape == (7, 5, 9)
    offsets = torch.randn(3, *shape)
    field = dense_displacement(offsets, size, spacing, interpolation)
    assert torch.allclose(field[:, ::2, ::3, ::2], offsets[:, 1:-1, 1:-1, 1:-1], atol=1e-5)
    constant = dense_displacement(torch.full((3, *shape), 2.5), size, spacing, interpolation)
    assert torch.allclose(constant, torch.full_like(constant, 2.5), atol=1e-5)


def test_field_rejects_bad_input():
    with pytest.raises(ValueError, match="interpolation"):
        dense_displacement(torch.zeros(2, 5, 5), (9, 9), (4, 4), "linear")
    with pytest.raises(ValueError, match=r"D = 2.*\(3, 5, 5\)"):
        dense_displacement(torch.zeros(3, 5, 5), (9, 9), (4, 4))
    with pytest.raises(ValueError, match=r"2 positive.*\(4,\)"):
        dense_displacement(torch.zeros(2, 5, 5), (9, 9), (4,))
    with pytest.raises(ValueError, match="positive"):
        dense_displacement(torch.zeros(2, 5, 5), (9, 9), (4, 0))


# ---- identity, labels, consistency ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(64, 64), (65, 37), (20, 31)])
def test_paper_elastic_is_the_identity_at_zero_magnitude(size):
    image, label = blobs(size)
    t = PaperElastic2Dd(["image", "label"], magnitude=0.0).set_random_state(0)
    out = t({"image": image, "label": label})
    assert torch.equal(out["image"], image)
    assert torch.equal(out["label"], label)


@pytest.mark.parametrize("size", [(33, 40, 29), (16, 9, 21)])
def test_grid_elastic_is_the_identity_at_zero_sigma(size):
    image, label = blobs(size)
    out = GridElastic3Dd(["image", "label"], sigma=0.0, grid_spacing=8)({"image": image, "label": label})
    assert torch.allclose(out["image"], image, atol=1e-5)
    assert torch.equal(out["label"], label)


@pytest.mark.parametrize(
    "make",
    [
        lambda: PaperElastic2Dd(["image", "label", "same"], mode=("bilinear", "nearest", "nearest")),
        lambda: GridElasticd(
            ["image", "label", "same"], 2, sigma=4.0, grid_spacing=8, mode=("bilinear", "nearest", "nearest")
        ),
        lambda: GridElastic3Dd(
            ["image", "label", "same"], sigma=4.0, grid_spacing=8, mode=("bilinear", "nearest", "nearest")
        ),
    ],
    ids=["paper2d", "grid2d", "grid3d"],
)
def test_labels_stay_labels_and_every_key_gets_the_same_field(make):
    t = make().set_random_state(3)
    size = (37, 30) if isinstance(t, PaperElastic2Dd) or t.spatial_dims == 2 else (19, 24, 17)
    image, label = blobs(size, classes=4)
    out = t({"image": image, "label": label, "same": label.clone()})
    assert set(out["label"].unique().tolist()) <= {0.0, 1.0, 2.0, 3.0}
    assert not torch.equal(out["label"], label)  # it did deform
    assert torch.equal(out["label"], out["same"])  # same field, same mode: same result
    assert out["image"].dtype == out["label"].dtype == torch.float32


@pytest.mark.parametrize(
    "make",
    [
        lambda: PaperElastic2Dd(["y", "x"], mode="bilinear", padding_mode="border"),
        lambda: GridElasticd(["y", "x"], 2, sigma=3.0, grid_spacing=10, mode="bilinear", padding_mode="border"),
    ],
    ids=["paper2d", "grid2d"],
)
def test_the_warp_applies_the_field_on_the_right_axes_2d(make):
    # warping the coordinate ramps returns x + u(x) wherever the sample point stays inside the image
    size = (41, 35)
    t = make().set_random_state(4)
    out = t({"y": ramp(size, 0), "x": ramp(size, 1)})
    u = t.displacement(size)  # the field of the last call
    for axis, key in enumerate(["y", "x"]):
        target = ramp(size, axis)[0] + u[axis]
        inside = (target > 0) & (target < size[axis] - 1)
        assert inside.float().mean() > 0.5
        assert torch.allclose(out[key][0][inside], target[inside], atol=1e-3)


def test_the_warp_applies_the_field_on_the_right_axes_3d():
    size = (21, 18, 15)
    keys = ["a0", "a1", "a2"]
    t = GridElastic3Dd(keys, sigma=2.0, grid_spacing=6, mode="bilinear", padding_mode="border").set_random_state(5)
    out = t({k: ramp(size, axis) for axis, k in enumerate(keys)})
    u = t.displacement(size)  # the offsets of the last call
    for axis, key in enumerate(keys):
        target = ramp(size, axis)[0] + u[axis]
        inside = (target > 0) & (target < size[axis] - 1)
        assert torch.allclose(out[key][0][inside], target[inside], atol=1e-3)


def test_paper_elastic_keeps_monai_affine_options():
    size = (24, 20)
    image = ramp(size, 0)
    t = PaperElastic2Dd("image", mode="bilinear", magnitude=0.0, translate_range=((3, 3), (0, 0)))
    out = t({"image": image})["image"]
    assert torch.allclose(out[0, :-3], image[0, 3:])  # sampled 3 rows further down


# ---- statistics ------------------------------------------------------------------------------------------------


def test_paper_elastic_displacement_is_n_0_10_on_a_3x3_grid():
    t = PaperElastic2Dd("image", mode="bilinear").set_random_state(6)
    size = (101, 61)
    assert t.spacing_for(size) == (50.0, 30.0)
    fields = []
    for _ in range(150):
        t.randomize()
        fields.append(t.displacement(size))
    fields = torch.stack(fields)
    on_grid = fields[:, :, ::50, ::30]  # the 3x3 control points: corners, edge midpoints, centre
    assert on_grid.shape[2:] == (3, 3)
    assert on_grid.mean().abs() < 0.5
    assert on_grid.std().item() == pytest.approx(10.0, rel=0.05)
    assert 7.5 < fields.std().item() < 10.0  # bicubic in between: 0.72 (cell centres) to 1 times 10 px
    # smooth: neighbouring pixels move almost together
    assert (fields[:, :, 1:] - fields[:, :, :-1]).std() < 0.05 * 10.0


def test_grid_elastic_displacement_is_n_0_4_on_a_32_voxel_grid_and_smooth():
    t = GridElastic3Dd("image", mode="bilinear").set_random_state(7)
    size = (65, 65, 33)
    fields = []
    for _ in range(40):
        t.randomize(size)
        assert t.offsets.shape == (3, 5, 5, 4)
        fields.append(t.displacement(size))
    fields = torch.stack(fields)
    on_grid = fields[:, :, ::32, ::32, ::32]
    assert on_grid.std().item() == pytest.approx(4.0, rel=0.06)
    assert 3.0 < fields.std().item() < 4.0
    for axis in (2, 3, 4):
        step = fields.narrow(axis, 1, size[axis - 2] - 1) - fields.narrow(axis, 0, size[axis - 2] - 1)
        assert step.std() < 0.1 * 4.0


def test_per_axis_sigma_and_spacing():
    t = GridElasticd("image", 2, sigma=(0.0, 3.0), grid_spacing=(8, 16), mode="bilinear").set_random_state(8)
    t.randomize((17, 33))
    assert t.offsets.shape == (2, 5, 5)
    assert np.all(t.offsets[0] == 0) and np.any(t.offsets[1] != 0)


# ---- randomness, probability, metadata -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [lambda: PaperElastic2Dd(["image", "label"]), lambda: GridElasticd(["image", "label"], 2, grid_spacing=8)],
    ids=["paper2d", "grid2d"],
)
def test_deterministic_under_set_random_state(make):
    image, label = blobs((30, 26))
    data = {"image": image, "label": label}
    a = make().set_random_state(11)(data)
    b = make().set_random_state(11)(data)
    c = make().set_random_state(12)(data)
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
    assert not torch.equal(a["image"], c["image"])


def test_deterministic_under_set_determinism_with_monai_dataloader():
    image, label = blobs((12, 14, 10))
    t = GridElastic3Dd(["image", "label"], grid_spacing=4)

    def run():
        loader = DataLoader(Dataset([{"image": image, "label": label}] * 2, transform=t), batch_size=2)
        return next(iter(loader))["image"]

    try:
        set_determinism(seed=0)
        first = run()
        set_determinism(seed=0)
        second = run()
        set_determinism(seed=1)
        third = run()
    finally:
        set_determinism(seed=None)
    assert torch.equal(first, second)
    assert not torch.equal(first, third)
    assert not torch.equal(first[0], first[1])  # two items, two fields


@pytest.mark.parametrize(
    "make",
    [lambda: PaperElastic2Dd(["image", "label"], prob=0.0), lambda: GridElasticd(["image", "label"], 2, prob=0.0)],
    ids=["paper2d", "grid2d"],
)
def test_prob_zero_leaves_values_and_gives_float32(make):
    image, label = blobs((10, 12))
    out = make()({"image": image, "label": label.to(torch.uint8)})
    assert torch.equal(out["image"], image)
    assert out["label"].dtype == torch.float32
    assert torch.equal(out["label"], label)


def test_default_probability_is_one():
    assert PaperElastic2Dd(["image", "label"]).prob == 1.0
    assert GridElastic3Dd(["image", "label"]).prob == 1.0


def test_metatensor_meta_is_kept_and_invertd_still_inverts_the_other_transforms():
    image, label = blobs((10, 12, 9))
    affine = torch.diag(torch.tensor([2.0, 1.5, 3.0, 1.0]))
    data = {
        "image": MetaTensor(image, affine=affine, meta={"filename_or_obj": "case.nii"}),
        "label": MetaTensor(label, affine=affine),
    }
    pipeline = Compose(
        [SpatialPadd(["image", "label"], spatial_size=(16, 16, 16)), GridElastic3Dd(["image", "label"], grid_spacing=4)]
    )
    out = pipeline(data)
    assert isinstance(out["image"], MetaTensor)
    assert out["image"].meta["filename_or_obj"] == "case.nii"
    assert torch.equal(out["image"].affine, out["label"].affine)
    assert out["image"].shape == (1, 16, 16, 16)
    out["pred"] = out["label"].clone()
    inverted = Invertd("pred", transform=pipeline, orig_keys="image", nearest_interp=True)(out)
    assert inverted["pred"].shape == (1, 10, 12, 9)  # the padding is undone; the random warp is not recorded
    assert torch.allclose(inverted["pred"].affine, affine.double())


def test_missing_keys_and_wrong_dimensions():
    t = GridElastic3Dd(["image", "label"], allow_missing_keys=True)
    assert t({"other": 1}) == {"other": 1}
    with pytest.raises(ValueError, match=r"3D data.*\(1, 12, 10\)"):
        GridElastic3Dd(["image", "label"])({"image": torch.zeros(1, 12, 10), "label": torch.zeros(1, 12, 10)})
    with pytest.raises(ValueError, match="2D data"):
        PaperElastic2Dd("image", mode="bilinear")({"image": torch.zeros(1, 8, 8, 8)})


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"mode needs one entry per key.*3 keys"):
        GridElastic3Dd(["image", "label", "weight"])
    with pytest.raises(ValueError, match="1 keys"):
        PaperElastic2Dd("image")
    with pytest.raises(ValueError, match="sigma"):
        GridElastic3Dd("image", sigma=-1.0, mode="bilinear")
    with pytest.raises(ValueError, match="grid_spacing"):
        GridElastic3Dd("image", grid_spacing=0, mode="bilinear")
    with pytest.raises(ValueError, match="spatial_dims"):
        GridElasticd("image", 4, mode="bilinear")
    with pytest.raises(ValueError, match="interpolation"):
        GridElastic3Dd("image", interpolation="linear", mode="bilinear")
    with pytest.raises(ValueError, match="grid"):
        PaperElastic2Dd("image", grid=1, mode="bilinear")
    with pytest.raises(ValueError, match="magnitude"):
        PaperElastic2Dd("image", magnitude=-10.0, mode="bilinear")
    with pytest.raises(RuntimeError, match="randomize"):
        GridElastic3Dd("image", mode="bilinear").displacement((8, 8, 8))
    with pytest.raises(RuntimeError, match="randomize"):
        PaperElastic2Dd("image", mode="bilinear").displacement((8, 8))


def test_build_from_bundle_config():
    config = {
        "paper": {
            "_target_": "medunet.transforms.PaperElastic2Dd",
            "keys": ["image", "label", "weight"],
            "mode": ["bilinear", "nearest", "bilinear"],
            "prob": 0.5,
            "rotate_range": 0.3,
        },
        "grid": {
            "_target_": "medunet.transforms.GridElastic3Dd",
            "keys": ["image", "label"],
            "sigma": 4.0,
            "grid_spacing": [32, 32, 16],
        },
        "grid2d": {
            "_target_": "medunet.transforms.GridElasticd",
            "keys": "image",
            "spatial_dims": 2,
            "mode": "bilinear",
        },
    }
    parser = ConfigParser(config)
    paper, grid, grid2d = (parser.get_parsed_content(k) for k in ("paper", "grid", "grid2d"))
    assert (
        isinstance(paper, PaperElastic2Dd) and paper.prob == 0.5 and paper.mode == ("bilinear", "nearest", "bilinear")
    )
    assert grid.grid_spacing == (32.0, 32.0, 16.0) and grid.spatial_dims == 3
    assert grid2d.spatial_dims == 2
    image, label = blobs((12, 10, 8))
    assert grid.set_random_state(0)({"image": image, "label": label})["label"].shape == (1, 12, 10, 8)


@pytest.mark.slow
def test_grid_elastic_128_cubed_is_fast_on_one_core():
    import time

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        volume = torch.rand(1, 128, 128, 128)
        t = GridElastic3Dd(["image", "label"]).set_random_state(0)
        t({"image": volume, "label": volume})
        start = time.perf_counter()
        t({"image": volume, "label": (volume > 0.5).float()})
        assert time.perf_counter() - start < 1.0
    finally:
        torch.set_num_threads(threads)
