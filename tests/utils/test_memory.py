"""CPU memory reuse: freed blocks stay in the heap inside the scope and go back to the kernel after it."""

from __future__ import annotations

import resource
import threading

import pytest
import torch

from medunet.inferers import overlap_tile_inference
from medunet.utils import memory
from medunet.utils.memory import cpu_memory_reuse, cpu_memory_reuse_available

needs_glibc = pytest.mark.skipif(not cpu_memory_reuse_available(), reason="needs glibc's malloc")

BLOCK = 64 * 2**20  # above glibc's largest mmap threshold (32 MiB): served by mmap unless reuse is on
PAGES = BLOCK // 4096


def steady_state_faults() -> int:
    """Minor page faults of the last 4 of 24 rounds of allocating, touching and freeing BLOCK bytes.

    With reuse on, glibc grows the heap for the first several rounds (a freed block plus the alignment padding
    of the next request do not fit the hole it left) and serves every later round from it.
    """
    for i in range(24):
        if i == 20:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        torch.ones(BLOCK // 4)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.fixture(autouse=True)
def calls(monkeypatch):
    """Fresh scope state for each test, glibc's defaults afterwards; records the allocator switches."""
    monkeypatch.setattr(memory, "_state", {"depth": 0})
    seen: list[str] = []
    keep, release = memory._keep, memory._release
    monkeypatch.setattr(memory, "_keep", lambda libc: (seen.append("keep"), keep(libc)))
    monkeypatch.setattr(memory, "_release", lambda libc: (seen.append("release"), release(libc)))
    yield seen
    if memory._glibc() is not None:
        release(memory._glibc())


@needs_glibc
def test_freed_blocks_are_reused_inside_the_scope():
    with cpu_memory_reuse():
        assert steady_state_faults() < PAGES // 10  # glibc's default maps each block afresh: 4 * PAGES faults


@needs_glibc
def test_free_memory_goes_back_to_the_kernel_when_the_scope_ends():
    with cpu_memory_reuse():
        blocks = [torch.ones(BLOCK // 4) for _ in range(4)]
        del blocks
        kept = resident_bytes()
    assert kept - resident_bytes() > 3 * BLOCK


@needs_glibc
def test_nested_scopes_switch_the_allocator_once(calls):
    with cpu_memory_reuse():
        with cpu_memory_reuse():
            assert memory._state["depth"] == 2
        assert calls == ["keep"]
    assert calls == ["keep", "release"]
    assert memory._state["depth"] == 0


def test_disabled_scope_changes_nothing(calls):
    with cpu_memory_reuse(enabled=False):
        assert memory._state["depth"] == 0
    assert calls == []


@needs_glibc
def test_scope_ends_on_an_exception(calls):
    with pytest.raises(RuntimeError), cpu_memory_reuse():
        raise RuntimeError("network failed")
    assert calls == ["keep", "release"]
    assert memory._state["depth"] == 0


@needs_glibc
def test_scopes_from_several_threads_balance(calls):
    def work():
        for _ in range(20):
            with cpu_memory_reuse():
                torch.ones(1000)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert memory._state["depth"] == 0
    assert calls.count("keep") == calls.count("release") > 0


def test_unavailable_allocator_is_a_no_op(calls, monkeypatch):
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    assert not cpu_memory_reuse_available()
    with cpu_memory_reuse():
        pass
    assert calls == []


def test_inferer_reuses_memory_on_the_cpu_and_can_be_told_not_to(monkeypatch):
    seen = []
    real = memory.cpu_memory_reuse

    def spy(enabled=True):
        seen.append(enabled)
        return real(enabled)

    monkeypatch.setattr("medunet.inferers.overlap_tile.cpu_memory_reuse", spy)
    image = torch.rand(1, 1, 20, 20)
    out = overlap_tile_inference(image, lambda x: x + 1, 8)
    overlap_tile_inference(image, lambda x: x + 1, 8, reuse_cpu_memory=False)
    assert seen == [True, False]
    torch.testing.assert_close(out, image + 1)
