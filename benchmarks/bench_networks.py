"""Forward throughput of each U-Net preset at its natural tile: fp32 against bf16 autocast, on CPU or CUDA.

    python benchmarks/bench_networks.py                 # all presets, best of 3 after a warm-up
    python benchmarks/bench_networks.py --presets unet3d_mri --repeats 5

bf16 runs twice: plain autocast, and autocast with channels-last weights and activations (what the convolution
kernels of a CPU with AVX-512 BF16 / AMX prefer). Ratios are against fp32 on the same device.
"""

from __future__ import annotations

import argparse
import platform

import torch
from _timing import best_time

from medunet.networks import count_parameters, unet2d_paper, unet3d_cicek, unet3d_mri

PRESETS = {
    "unet2d_paper": (unet2d_paper, (1, 1, 572, 572)),
    "unet3d_cicek": (unet3d_cicek, (1, 3, 132, 132, 116)),
    "unet3d_mri": (unet3d_mri, (1, 4, 96, 96, 96)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    print(
        f"device: {device} ({platform.processor() or platform.machine()}), torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}"
    )
    header = f"{'preset':<14} {'tile':<22} {'params':>11} {'mode':<15} {'s/tile':>8} {'Mvox/s':>8} {'vs fp32':>8}"
    print(header)
    print("-" * len(header))
    torch.set_grad_enabled(False)
    for name in args.presets:
        build, shape = PRESETS[name]
        net = build().to(device).eval()
        x = torch.randn(shape, device=device)
        out_voxels = torch.Size(net.output_size(shape[2:])).numel()
        channels_last = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
        modes = {
            "fp32": (net, x, False),
            "bf16 autocast": (net, x, True),
            "bf16 + ch-last": (net.to(memory_format=channels_last), x.to(memory_format=channels_last), True),
        }
        fp32 = None
        for mode, (model, inputs, bf16) in modes.items():

            def run(model=model, inputs=inputs, bf16=bf16):
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    return model(inputs)

            seconds, _ = best_time(args.repeats, run, warmup=True, sync=sync)
            fp32 = fp32 or seconds
            print(
                f"{name:<14} {'x'.join(map(str, shape[2:])):<22} {count_parameters(net):>11,} {mode:<15} "
                f"{seconds:>8.3f} {out_voxels / seconds / 1e6:>8.2f} {fp32 / seconds:>7.2f}x"
            )


if __name__ == "__main__":
    main()
