import math

import pytest
import torch

from medunet.networks import UNet

TINY = (4, 8, 16)  # three levels: pooling factor 4, margin 20 in valid mode


def tiny(spatial_dims, padding, **kwargs):
    return UNet(spatial_dims, 2, 3, channels=TINY, padding=padding, **kwargs)


@pytest.mark.parametrize(
    ("spatial_dims", "padding", "size"),
    [
        (2, "valid", (44, 52)),
        (2, "valid", (48, 60)),
        (3, "valid", (44, 48, 52)),
        (2, "same", (12, 20)),
        (3, "same", (8, 12, 4)),
    ],
)
def test_forward_shape_matches_tile_arithmetic(spatial_dims, padding, size):
    net = tiny(spatial_dims, padding)
    y = net(torch.randn(2, 2, *size))
    assert y.shape == (2, 3, *net.output_size(size))
    if padding == "same":
        assert tuple(y.shape[2:]) == size
    else:
        assert tuple(y.shape[2:]) == tuple(n - 2 * net.margin for n in size)


def test_tile_arithmetic_valid():
    net = tiny(2, "valid")
    assert net.downsample_factor == 4
    assert net.margin == 20  # 6 * 4 - 4
    assert net.output_size(44) == 4
    assert net.output_size((44, 48)) == (4, 8)
    for m in (1, 4, 5, 9, 30):
        n = net.valid_input_size(m)
        assert net.output_size(n) >= m
        # smallest: no smaller valid input reaches m
        for k in range(n - 1, 0, -1):
            try:
                assert net.output_size(k) < m
            except ValueError:
                continue
    assert net.valid_input_size((1, 9)) == (44, 52)


def test_tile_arithmetic_same():
    net = tiny(3, "same")
    assert net.margin == 0
    assert net.output_size((8, 12, 4)) == (8, 12, 4)
    assert net.valid_input_size(5) == 8


@pytest.mark.parametrize(
    ("padding", "size", "nearest"),
    [
        ("valid", (46, 44), "44 or 48"),  # 46 - 4 = 42 is even but 21 - 4 = 17 is odd before the 2nd pool
        ("valid", (45, 44), "44 or 48"),  # odd size
        ("valid", (40, 44), "44"),  # too small: output would vanish; nothing smaller is valid
        ("same", (12, 10), "8 or 12"),
        ("same", (13, 12), "12 or 16"),
    ],
)
def test_wrong_size_names_received_and_nearest_sizes(padding, size, nearest):
    net = tiny(2, padding)
    with pytest.raises(ValueError, match=r"cannot take spatial size") as err:
        net(torch.zeros(1, 2, *size))
    message = str(err.value)
    assert str(list(size)) in message
    assert f"nearest valid sizes: {nearest} " in message
    with pytest.raises(ValueError, match="nearest valid sizes"):
        net.output_size(size)


def test_wrong_rank_is_a_value_error():
    with pytest.raises(ValueError, match="2 spatial axes"):
        tiny(2, "same")(torch.zeros(1, 2, 8, 8, 8))


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_backward_reaches_every_parameter(spatial_dims, padding):
    net = tiny(spatial_dims, padding, norm="batch")
    size = (44,) * spatial_dims if padding == "valid" else (8,) * spatial_dims
    net(torch.randn(2, 2, *size)).square().mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(padding="valid"),
        dict(padding="same", norm=("instance", {"affine": True}), act=("leakyrelu", {"negative_slope": 0.01})),
        dict(padding="valid", norm="batch", upsample="nontrainable"),
        dict(padding="same", norm=("group", {"num_groups": 2}), up_halves_channels=False, dropout=0.3),
        dict(padding="valid", channels=((4, 8), (8, 16), (16, 32)), up_halves_channels=False, up_bias=False),
    ],
)
def test_torchscript_round_trip_equals_eager(kwargs, tmp_path):
    kwargs = {"channels": TINY, **kwargs}
    net = UNet(3, 2, 3, **kwargs).eval()
    x = torch.randn(1, 2, *((44, 48, 44) if kwargs["padding"] == "valid" else (8, 12, 4)))
    scripted = torch.jit.script(net)
    scripted.save(str(tmp_path / "net.ts"))
    loaded = torch.jit.load(str(tmp_path / "net.ts"))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x))
    with pytest.raises(torch.jit.Error, match="nearest valid sizes"):
        loaded(torch.zeros(1, 2, 45, 48, 44))


def test_onnx_export_matches_eager():
    pytest.importorskip("onnxruntime")
    from monai.networks.utils import convert_to_onnx

    net = tiny(2, "valid", norm="batch").eval()
    x = torch.randn(1, 2, 44, 48)
    # verify=True compares onnxruntime's output with eager PyTorch and raises on mismatch
    convert_to_onnx(
        net, [x], input_names=["image"], output_names=["pred"], verify=True, use_ort=True, rtol=1e-4, atol=1e-4
    )


def test_he_initialisation():
    net = UNet(2, 64, 2, channels=(256, 512), padding="same")
    conv = net.encoder[1][1].conv  # 512 -> 512, 3x3: fan-in 4608
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (512 * 9)), rel=0.02)
    up = net.decoder[0].up.deconv  # 2x2 stride 2: each output unit sees in_channels inputs
    assert up.weight.std().item() == pytest.approx(math.sqrt(2 / 512), rel=0.02)
    assert all(m.bias.abs().sum() == 0 for m in (conv, up))


def test_dropout_sits_at_the_end_of_the_contracting_path():
    net = tiny(2, "same", dropout=0.5)
    assert isinstance(net.dropout, torch.nn.Dropout) and net.dropout.p == 0.5
    x = torch.randn(1, 2, 8, 8)
    net.train()
    assert not torch.equal(net(x), net(x))
    net.eval()
    assert torch.equal(net(x), net(x))


def test_valid_network_is_translation_equivariant_on_the_pooling_grid():
    """Shifting the input by the pooling factor shifts the output by the same amount: what lets overlap-tile
    inference reproduce the whole-image result."""
    net = tiny(2, "valid").eval()
    x = torch.randn(1, 2, 56, 48)
    with torch.no_grad():
        whole = net(x)
        shifted = net(x[:, :, 4:, :44])
    torch.testing.assert_close(shifted, whole[:, :, 4:, :4])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(channels=(8,)), "at least 2 levels"),
        (dict(channels=(8, (4, 4, 4))), "pair"),
        (dict(padding="full"), "padding"),
        (dict(upsample="pixelshuffle"), "upsample"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        UNet(2, 1, 2, **{"channels": TINY, **kwargs})


def _poison_freed_memory() -> None:
    """Leave NaN-filled blocks in the allocator's free lists, as a long training run does with stale activations."""
    blocks = [torch.full((n,), float("nan")) for n in (2_000_000, 300_000, 40_000, 10_000)]
    del blocks


def test_cpu_bf16_weight_gradients_stay_finite_at_depth_two():
    # oneDNN's bf16 weight gradient of a 3x3x3 convolution reads uninitialised memory when the input depth is 2
    # (a 32-voxel patch at the bottom of a 5-level U-Net); without the fp32 fallback some of these runs get NaN
    torch.manual_seed(0)
    net = UNet(3, 1, 2, channels=(32, 64), padding="same", norm="instance")
    x = torch.randn(1, 1, 4, 6, 6)
    for _ in range(20):
        _poison_freed_memory()
        net.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(x)
        out.float().sum().backward()
        assert all(torch.isfinite(p.grad).all() for p in net.parameters())


def test_only_depth_two_blocks_leave_bf16():
    dtypes = {}
    net = UNet(3, 1, 2, channels=(4, 8, 16), padding="same")
    for name, module in net.named_modules():
        if isinstance(module, torch.nn.Conv3d):
            module.register_forward_hook(lambda m, i, o, name=name: dtypes.setdefault(name, o.dtype) and None)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        net(torch.randn(1, 1, 8, 12, 12))  # depths 8, 4, 2
    assert dtypes["encoder.2.0.conv"] == dtypes["encoder.2.1.conv"] == torch.float32
    assert dtypes["encoder.0.0.conv"] == dtypes["decoder.0.conv.0.conv"] == torch.bfloat16
    dtypes.clear()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        net(torch.randn(1, 1, 8, 12, 12))  # no weight gradients, no fallback
    assert dtypes["encoder.2.0.conv"] == torch.bfloat16
