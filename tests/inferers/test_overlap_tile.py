import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.data import MetaTensor

from medunet.inferers import OverlapTileInferer, overlap_tile_inference
from medunet.networks import UNet


def plus_one(x):
    return x + 1


class CropMargin(torch.nn.Module):
    """A "valid" oracle: returns its input with `margin` voxels cropped from every side."""

    def __init__(self, margin):
        super().__init__()
        self.margin = margin

    def forward(self, x):
        m = self.margin
        return x[(slice(None), slice(None), *[slice(m, n - m) for n in x.shape[2:]])]


def mirror_pad(x, left, right):
    """Reference mirror padding of the spatial axes (numpy's reflect)."""
    pad = [(0, 0), (0, 0), *zip(left, right)]
    return torch.from_numpy(np.pad(x.numpy(), pad, mode="reflect"))


def whole_image_reference(net, x):
    """One pass of a valid network over the whole image, mirror-padded to the smallest valid size."""
    size = x.shape[2:]
    left = [net.margin] * len(size)
    right = [net.valid_input_size(n) - n - net.margin for n in size]
    with torch.no_grad():
        out = net(mirror_pad(x, left, right))
    return out[(slice(None), slice(None), *[slice(0, n) for n in size])]


@pytest.mark.parametrize(
    ("size", "roi"),
    [((37, 29), (16, 16)), ((5, 7), (16, 16)), ((33, 17, 9), (8, 8, 8)), ((20, 3, 11), 8), ((16, 16), 16)],
)
@pytest.mark.parametrize("sw_batch_size", [1, 3])
@pytest.mark.parametrize("mode", ["gaussian", "constant"])
def test_identity_and_plus_one_stitch_back_exactly(size, roi, sw_batch_size, mode):
    x = torch.randn(2, 3, *size)
    for network, expected in ((torch.nn.Identity(), x), (plus_one, x + 1)):
        y = overlap_tile_inference(x, network, roi, sw_batch_size=sw_batch_size, mode=mode)
        assert y.shape == expected.shape
        torch.testing.assert_close(y, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("padding_mode", ["reflect", "symmetric", "replicate", "circular", "constant"])
@pytest.mark.parametrize(("size", "roi", "margin"), [((37, 29), (24, 20), 5), ((13, 9, 11), (12, 12, 12), 3)])
def test_valid_oracle_stitches_back_exactly(size, roi, margin, padding_mode):
    x = torch.randn(2, 2, *size)
    y = overlap_tile_inference(x, CropMargin(margin), roi, sw_batch_size=2, padding_mode=padding_mode)
    torch.testing.assert_close(y, x, rtol=0, atol=0)
    # the same with the margin given to the inferer instead of read from the network
    y = overlap_tile_inference(x, lambda w: CropMargin(margin)(w), roi, margin=margin)
    torch.testing.assert_close(y, x, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("channels", "size", "roi"),
    [
        ((4, 8, 16), (69, 45), 48),  # 2D, margin 20, pooling factor 4
        ((4, 8, 16), (37, 29), 64),
        ((4, 8, 16), (61, 50), (52, 44)),
        ((2, 4), (29, 20, 13), 26),  # 3D, margin 8, pooling factor 2
        ((2, 4), (9, 31, 18), (22, 28, 24)),
    ],
)
@pytest.mark.parametrize("sw_batch_size", [1, 4])
def test_tiny_valid_unet_equals_one_pass_over_the_whole_padded_image(channels, size, roi, sw_batch_size):
    net = UNet(len(size), 2, 3, channels=channels, padding="valid").eval()
    x = torch.randn(2, 2, *size)
    # float64: the tiled result is the whole-image result up to rounding, not just approximately
    y = overlap_tile_inference(x.double(), net.double(), roi, sw_batch_size=sw_batch_size, buffer_dtype=torch.float64)
    torch.testing.assert_close(y, whole_image_reference(net, x.double()), rtol=1e-10, atol=1e-10)
    # float32: convolution kernels sum in another order for another tensor size; differences stay at rounding level
    y, ref = overlap_tile_inference(x, net.float(), roi), whole_image_reference(net, x)
    assert (y - ref).abs().max() <= 1e-5 * ref.abs().max()


def test_same_padded_unet_matches_a_single_window_when_the_image_fits():
    net = UNet(2, 1, 2, channels=(4, 8), padding="same").eval()
    x = torch.randn(1, 1, 16, 12)
    with torch.no_grad():
        torch.testing.assert_close(overlap_tile_inference(x, net, (16, 12)), net(x))


def test_flip_tta_on_a_flip_equivariant_network_equals_the_plain_prediction():
    net = torch.nn.Conv3d(2, 3, kernel_size=1)  # pointwise: commutes with flips
    x = torch.randn(1, 2, 19, 14, 9)
    plain = overlap_tile_inference(x, net, 8)
    tta = overlap_tile_inference(x, net, 8, mirror_axes=(0, 1, 2))
    torch.testing.assert_close(tta, plain, rtol=1e-5, atol=1e-5)


def test_flip_tta_averages_every_flip_combination_flipped_back():
    def directional(w):  # not flip-equivariant: a cumulative sum along both axes
        return w.cumsum(2).cumsum(3)

    x = torch.randn(1, 1, 8, 6)
    expected = sum(directional(x.flip(d)).flip(d) if d else directional(x) for d in [(), (2,), (3,), (2, 3)]) / 4
    torch.testing.assert_close(overlap_tile_inference(x, directional, (8, 6), mirror_axes=(0, 1)), expected)


def test_flip_tta_of_a_valid_unet_equals_tta_over_the_whole_padded_image():
    net = UNet(2, 1, 2, channels=(2, 4, 8), padding="valid").eval()
    x = torch.randn(1, 1, 50, 41)
    tiled = overlap_tile_inference(x, net, 48, mirror_axes=(0, 1))
    size = x.shape[2:]
    padded = mirror_pad(x, [20, 20], [net.valid_input_size(n) - n - 20 for n in size])
    with torch.no_grad():
        whole = sum(net(padded.flip(d)).flip(d) if d else net(padded) for d in [(), (2,), (3,), (2, 3)]) / 4
    torch.testing.assert_close(tiled, whole[:, :, : size[0], : size[1]], rtol=1e-5, atol=1e-5)


def test_bf16_autocast_agrees_with_fp32_and_returns_the_buffer_dtype():
    torch.manual_seed(0)
    net = UNet(3, 1, 2, channels=(4, 8), padding="same", norm="instance").eval()
    x = torch.randn(1, 1, 24, 20, 16)
    fp32 = overlap_tile_inference(x, net, 16)
    bf16 = overlap_tile_inference(x, net, 16, autocast="bf16")
    assert bf16.dtype == torch.float32
    assert (bf16.argmax(1) == fp32.argmax(1)).float().mean() > 0.95
    assert overlap_tile_inference(x, net, 16, buffer_dtype=torch.float64).dtype == torch.float64


def test_metatensor_input_keeps_its_metadata():
    affine = torch.diag(torch.tensor([2.0, 3.0, 1.0, 1.0]))
    x = MetaTensor(torch.randn(1, 1, 10, 12), affine=affine, meta={"filename_or_obj": "case.nii.gz"})
    y = overlap_tile_inference(x, plus_one, 8)
    assert isinstance(y, MetaTensor)
    torch.testing.assert_close(y.affine, affine.double())
    assert y.meta["filename_or_obj"] == "case.nii.gz"


def test_network_behind_a_dataparallel_wrapper_is_tiled_as_valid():
    net = UNet(2, 1, 2, channels=(4, 8), padding="valid").eval()  # margin 8
    x = torch.randn(1, 1, 30, 30)
    y = overlap_tile_inference(x, torch.nn.DataParallel(net), 28)
    torch.testing.assert_close(y, whole_image_reference(net, x), rtol=1e-5, atol=1e-5)


def test_progress_bar(capsys):
    overlap_tile_inference(torch.zeros(1, 1, 20, 20), plus_one, 8, progress=True)
    assert "overlap-tile" in capsys.readouterr().err


def test_inferer_from_bundle_config_and_in_a_monai_evaluator():
    from monai.engines import SupervisedEvaluator

    parser = ConfigParser(
        {"inferer": {"_target_": "medunet.inferers.OverlapTileInferer", "roi_size": [8, 8], "mirror_axes": [0]}}
    )
    inferer = parser.get_parsed_content("inferer")
    assert isinstance(inferer, OverlapTileInferer)
    data = [{"image": torch.randn(1, 13, 10), "label": torch.zeros(1, 13, 10)} for _ in range(2)]
    loader = torch.utils.data.DataLoader(data, batch_size=2)
    evaluator = SupervisedEvaluator(torch.device("cpu"), loader, torch.nn.Conv2d(1, 2, 1), inferer=inferer)
    evaluator.run()
    assert evaluator.state.output[0]["pred"].shape == (2, 13, 10)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(inputs=torch.zeros(1, 8, 8), roi_size=(4, 4)), ValueError, "2 spatial axes"),
        (dict(roi_size=(4, 4), inputs=torch.full((1, 1, 8, 8), float("nan"))), ValueError, "non-finite"),
        (dict(roi_size=4, sw_batch_size=0), ValueError, "sw_batch_size"),
        (dict(roi_size=4, overlap=1.0), ValueError, "overlap"),
        (dict(roi_size=4, mode="linear"), ValueError, "mode"),
        (dict(roi_size=4, padding_mode="mirror"), ValueError, "padding_mode"),
        (dict(roi_size=4, mirror_axes=(2,)), ValueError, "mirror_axes"),
        (dict(roi_size=4, margin=2), ValueError, "roi_size"),
        (dict(roi_size=6, margin=1), ValueError, "give the inferer the network's `margin`"),
        (dict(roi_size=4, autocast="fp8"), ValueError, "autocast"),
    ],
)
def test_bad_input_raises_a_clear_error(kwargs, error, match):
    kwargs = {"inputs": torch.zeros(1, 1, 8, 8), "network": plus_one, **kwargs}
    with pytest.raises(error, match=match):
        overlap_tile_inference(**kwargs)


def test_roi_that_is_not_a_valid_network_input_names_the_nearest_sizes():
    net = UNet(2, 1, 2, channels=(4, 8, 16), padding="valid")
    with pytest.raises(ValueError, match=r"not a valid input size.*nearest valid sizes: 44 or 48"):
        overlap_tile_inference(torch.zeros(1, 1, 50, 50), net, 46)


def test_a_network_returning_a_tuple_is_rejected():
    with pytest.raises(TypeError, match="must return a tensor"):
        overlap_tile_inference(torch.zeros(1, 1, 8, 8), lambda w: (w, w), 8)


def test_inferer_rejects_bad_options_at_construction():
    with pytest.raises(ValueError, match="mode"):
        OverlapTileInferer(96, mode="average")
    with pytest.raises(ValueError, match="autocast"):
        OverlapTileInferer(96, autocast="half")


class Counting(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.windows = 0

    def forward(self, x):
        self.windows += x.shape[0]
        return x + 1


@pytest.mark.parametrize("size", [(40, 37, 30), (9, 40, 21)])
def test_crop_foreground_tiles_only_the_nonzero_box_and_fills_the_rest(size):
    x = torch.zeros(2, 2, *size)
    x[0, 1, 3:9, 10:20, 4:7] = torch.rand(6, 10, 3) + 0.5
    full, cropped = Counting(), Counting()
    plain = overlap_tile_inference(x, full, 8)
    y = overlap_tile_inference(x, cropped, 8, crop_foreground=True)
    torch.testing.assert_close(y, x + 1, rtol=1e-6, atol=1e-6)  # an all-zero window predicts 1 everywhere
    torch.testing.assert_close(y, plain, rtol=1e-6, atol=1e-6)
    assert cropped.windows < full.windows


def test_crop_foreground_of_an_image_without_background_is_the_plain_result():
    net = UNet(3, 1, 2, channels=(4, 8), padding="same").eval()
    x = torch.rand(1, 1, 20, 18, 12) + 0.1
    torch.testing.assert_close(
        overlap_tile_inference(x, net, 8, crop_foreground=True), overlap_tile_inference(x, net, 8)
    )


def test_crop_foreground_is_refused_for_valid_networks():
    with pytest.raises(ValueError, match="same-padded"):
        overlap_tile_inference(torch.zeros(1, 1, 30, 30), CropMargin(2), 12, crop_foreground=True)
