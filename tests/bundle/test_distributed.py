import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from medunet.bundle import is_rank_zero, rank_zero_first


def test_outside_distributed_runs_it_is_a_plain_call():
    assert is_rank_zero()
    assert rank_zero_first(lambda a, b=0: a + b, 1, b=2) == 3


def _worker(rank, folder, port):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:

        def prepare():
            marker = os.path.join(folder, "ready")
            if rank == 0:
                torch.save(rank, marker)  # only rank 0 creates; rank 1 must find it
            return os.path.exists(marker)

        found = rank_zero_first(prepare)
        torch.save(found, os.path.join(folder, f"found_{rank}"))
    finally:
        dist.destroy_process_group()


def test_rank_zero_runs_first(tmp_path):
    port = 29500 + os.getpid() % 1000
    mp.spawn(_worker, args=(str(tmp_path), port), nprocs=2)
    assert torch.load(tmp_path / "found_1") is True
    assert torch.load(tmp_path / "found_0") is True
