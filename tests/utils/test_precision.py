import pytest
import torch

from medunet.utils import autocast_context, resolve_autocast_dtype, supports_bf16


def test_explicit_names():
    assert resolve_autocast_dtype(None, "cpu") is None
    assert resolve_autocast_dtype("bf16", "cpu") is torch.bfloat16
    assert resolve_autocast_dtype("fp16", "cpu") is torch.float16
    assert resolve_autocast_dtype(torch.bfloat16, "cpu") is torch.bfloat16


def test_auto_follows_the_hardware():
    expected = torch.bfloat16 if supports_bf16("cpu") else None
    assert resolve_autocast_dtype("auto", "cpu") is expected


@pytest.mark.parametrize("bad", ["fp8", "yes", torch.float32])
def test_unknown_autocast_is_rejected(bad):
    with pytest.raises(ValueError, match="autocast"):
        resolve_autocast_dtype(bad, "cpu")


def test_autocast_context_runs_matmul_in_bf16():
    a = torch.randn(4, 4)
    with autocast_context(torch.bfloat16, "cpu"):
        assert (a @ a).dtype is torch.bfloat16
    with autocast_context(None, "cpu"):
        assert (a @ a).dtype is torch.float32
