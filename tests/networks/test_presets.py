import pytest
import torch
from monai.bundle import ConfigParser

from medunet.networks import count_parameters, unet2d_paper, unet3d_cicek, unet3d_mri


def on_meta(build, *args, **kwargs):
    """Build a full-size preset without allocating its weights."""
    with torch.device("meta"):
        return build(*args, **kwargs)


def meta_forward(net, *shape):
    return net(torch.empty(*shape, device="meta")).shape


def test_unet2d_paper_is_the_2015_network():
    net = on_meta(unet2d_paper)
    assert count_parameters(net) == 31_030_658
    assert net.output_size((572, 572)) == (388, 388)
    assert net.margin == 92
    assert meta_forward(net, 1, 1, 572, 572) == (1, 2, 388, 388)
    assert [net.valid_input_size(n) for n in (372, 388, 404, 1024)] == [556, 572, 588, 1212]
    convs = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert len(convs) == 23  # "In total the network has 23 convolutional layers" (18 3x3, 4 up, one 1x1)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._NormBase) for m in net.modules())


def test_unet3d_cicek_is_the_2016_network():
    net = on_meta(unet3d_cicek)
    assert count_parameters(net, include_norm=False) == 19_069_955  # as the paper counts
    assert count_parameters(net) == 19_074_627  # with batch-norm scale and shift
    assert net.output_size((132, 132, 116)) == (44, 44, 28)
    assert net.margin == 44
    assert meta_forward(net, 1, 3, 132, 132, 116) == (1, 3, 44, 44, 28)
    assert net.decoder[0].up.deconv.out_channels == 512  # up-convolutions keep the channel count
    assert sum(isinstance(m, torch.nn.BatchNorm3d) for m in net.modules()) == 14  # before each of 14 ReLUs


def test_unet3d_mri_is_same_padded():
    net = on_meta(unet3d_mri)
    assert meta_forward(net, 2, 4, 96, 96, 64) == (2, 3, 96, 96, 64)
    assert net.margin == 0 and net.downsample_factor == 16


def test_preset_kwargs_override():
    net = on_meta(unet2d_paper, in_channels=3, out_channels=3, channels=(8, 16, 32))
    assert net.in_channels == 3 and net.levels == 3


@pytest.mark.parametrize(
    ("target", "shape", "expected"),
    [
        ("medunet.networks.unet2d_paper", (1, 1, 188, 188), (1, 2, 4, 4)),
        ("medunet.networks.unet3d_cicek", (1, 3, 92, 92, 92), (1, 3, 4, 4, 4)),
        ("medunet.networks.unet3d_mri", (1, 4, 32, 32, 16), (1, 3, 32, 32, 16)),
    ],
)
def test_presets_build_from_bundle_configs(target, shape, expected):
    parser = ConfigParser({"network_def": {"_target_": target}})
    with torch.device("meta"):
        net = parser.get_parsed_content("network_def")
    assert meta_forward(net, *shape) == expected


def test_unet_builds_from_config_with_layer_options():
    config = {
        "network_def": {
            "_target_": "medunet.networks.UNet",
            "spatial_dims": 2,
            "in_channels": 1,
            "out_channels": 2,
            "channels": [4, [8, 16]],
            "padding": "same",
            "norm": ["instance", {"affine": True}],
            "act": ["leakyrelu", {"negative_slope": 0.01}],
        }
    }
    net = ConfigParser(config).get_parsed_content("network_def")
    assert net(torch.zeros(1, 1, 6, 10)).shape == (1, 2, 6, 10)
