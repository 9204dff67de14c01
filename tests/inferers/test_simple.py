import pytest
import torch

from medunet.inferers import AutocastInferer
from medunet.utils import supports_bf16


def test_bf16_forward_with_float32_gradients():
    net = torch.nn.Conv2d(1, 2, 3)
    out = AutocastInferer("bf16")(torch.randn(2, 1, 8, 8), net)
    assert out.dtype == torch.bfloat16
    out.float().square().mean().backward()
    assert net.weight.grad.dtype == torch.float32


def test_none_is_full_precision_and_auto_follows_the_hardware():
    net = torch.nn.Conv2d(1, 2, 3)
    x = torch.randn(1, 1, 8, 8)
    assert AutocastInferer(None)(x, net).dtype == torch.float32
    expected = torch.bfloat16 if supports_bf16("cpu") else torch.float32
    assert AutocastInferer("auto")(x, net).dtype == expected


def test_unknown_name_is_rejected():
    with pytest.raises(ValueError, match="autocast"):
        AutocastInferer("int8")
