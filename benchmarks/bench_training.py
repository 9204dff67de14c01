"""Training throughput: the brain tumour bundle's training step against a stock MONAI baseline, side by side.

    python benchmarks/bench_training.py                    # both geometries, 5 timed epochs each after a warm-up
    python benchmarks/bench_training.py --geometry demo --epochs 8

Both train ``unet3d_mri`` on 48^3 foreground-oversampled patches (batch 2) with Dice + CE on the WT/TC/ET regions
and AdamW, through MONAI's SupervisedTrainer, on the same training cases (the bundle's split), at two geometries:

- demo: the bundle's default synthetic MSD-layout dataset, 24 cases of 64x64x48 (19 train);
- brats: 10 synthetic skull-stripped cases of 240x240x155 at 1 mm (8 train), the size of real BraTS / MSD Task01
  volumes, where reading and scanning each case costs more than the training step.

- baseline: what a MONAI user would write first: a plain ``monai.data.Dataset`` (every case is read from its
  NIfTI file and preprocessed again each epoch), a plain ``torch.utils.data.DataLoader``, fp32.
- medunet: the bundle's own ``configs/train.json`` (merged over the shared base), run through MONAI's
  ConfigWorkflow: cached deterministic preprocessing with the foreground locations of each case
  (``ForegroundLocationsd``), plain-tensor batches, fused AdamW, bf16 autocast where the CPU has it.

Validation is switched off in both. The first epoch (caching, kernel selection) is not timed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from ignite.engine import Events

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "bundles" / "brain_tumor_segmentation"
PATCH, BATCH = (48, 48, 48), 2


class EpochTimer:
    """Seconds and patches of each epoch (the last batch of an epoch may be smaller than BATCH)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.patches: list[int] = []

    def attach(self, engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self._start)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._count)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._done)

    def _start(self, engine) -> None:
        self.patches.append(0)
        self._started = time.perf_counter()

    def _count(self, engine) -> None:
        batch = engine.state.batch  # MONAI decollates it into a list of items after the iteration
        self.patches[-1] += len(batch) if isinstance(batch, list) else len(batch["image"])

    def _done(self, engine) -> None:
        self.times.append(time.perf_counter() - self._started)

    def patches_per_second(self) -> float:
        timed = slice(1, None)  # without the warm-up epoch
        return sum(self.patches[timed]) / sum(self.times[timed])


def baseline(dataset_dir: Path, datalist: Path, epochs: int) -> float:
    from monai.data import Dataset
    from monai.engines import SupervisedTrainer
    from monai.losses import DiceCELoss
    from monai.transforms import (
        CastToTyped,
        Compose,
        CropForegroundd,
        LoadImaged,
        NormalizeIntensityd,
        Orientationd,
        RandCropByPosNegLabeld,
        RandFlipd,
        RandScaleIntensityd,
        RandShiftIntensityd,
        SpatialPadd,
    )
    from monai.utils import set_determinism

    from medunet.networks import unet3d_mri
    from medunet.transforms import ConvertMSDToBratsRegionsd

    set_determinism(0)
    keys = ["image", "label"]
    transform = Compose(
        [
            LoadImaged(keys, ensure_channel_first=True),
            Orientationd(keys, axcodes="RAS", labels=None),
            CropForegroundd(keys, source_key="image", allow_smaller=True),
            NormalizeIntensityd("image", nonzero=True, channel_wise=True),
            SpatialPadd(keys, spatial_size=PATCH),
            RandCropByPosNegLabeld(
                keys,
                label_key="label",
                spatial_size=PATCH,
                pos=2,
                neg=1,
                num_samples=1,
                image_key="image",
                image_threshold=0,
            ),
            RandFlipd(keys, prob=0.5, spatial_axis=0),
            RandFlipd(keys, prob=0.5, spatial_axis=1),
            RandFlipd(keys, prob=0.5, spatial_axis=2),
            RandScaleIntensityd("image", factors=0.1, prob=0.5),
            RandShiftIntensityd("image", offsets=0.1, prob=0.5),
            ConvertMSDToBratsRegionsd("label"),
            CastToTyped("label", dtype=torch.float32),
        ]
    )
    with open(datalist) as f:
        training = json.load(f)["training"]  # the bundle's own training split, paths relative to the dataset
    cases = [{k: str(dataset_dir / item[k]) for k in ("image", "label")} for item in training]
    loader = torch.utils.data.DataLoader(
        Dataset(cases, transform), batch_size=BATCH, shuffle=True, collate_fn=__import__("monai").data.list_data_collate
    )
    network = unet3d_mri()
    trainer = SupervisedTrainer(
        device=torch.device("cpu"),
        max_epochs=epochs + 1,
        train_data_loader=loader,
        network=network,
        optimizer=torch.optim.AdamW(network.parameters(), 3e-3, weight_decay=1e-5),
        loss_function=DiceCELoss(sigmoid=True, squared_pred=True, smooth_nr=0.0, smooth_dr=1e-5),
    )
    timer = EpochTimer()
    timer.attach(trainer)
    trainer.run()
    return timer.patches_per_second()


def medunet(bundle_root: Path, epochs: int, **overrides) -> float:
    from monai.bundle import ConfigWorkflow

    workflow = ConfigWorkflow(
        config_file=str(BUNDLE / "configs/train.json"),
        meta_file=str(BUNDLE / "configs/metadata.json"),
        workflow_type="train",
        bundle_root=str(bundle_root),
        num_epochs=epochs + 1,
        val_interval=10_000,
        **overrides,
    )
    workflow.initialize()
    timer = EpochTimer()
    timer.attach(workflow.parser.get_parsed_content("train#trainer"))
    workflow.run()
    workflow.finalize()
    return timer.patches_per_second()


GEOMETRIES = {"demo": {"n": 24, "shape": (64, 64, 48)}, "brats": {"n": 10, "shape": (240, 240, 155)}}


def compare(geometry: str, epochs: int) -> tuple[float, float]:
    """(baseline, medunet) patches per second on freshly written synthetic cases of ``geometry``."""
    from medunet.data.synthetic import write_msd_dataset

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_msd_dataset(root / "data", **GEOMETRIES[geometry], seed=0, skull_stripped=True)
        ours = medunet(root, epochs)
        base = baseline(root / "data", root / "models" / "datalist.json", epochs)
    return base, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs (after one warm-up epoch)")
    parser.add_argument("--geometry", choices=[*GEOMETRIES, "both"], default="both")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.epochs} timed epochs")
    geometries = list(GEOMETRIES) if args.geometry == "both" else [args.geometry]
    results = {g: compare(g, args.epochs) for g in geometries}
    print("\n| cases | stock MONAI (Dataset + DataLoader, fp32) patches/s | medunet bundle patches/s | vs baseline |")
    print("|---|---|---|---|")
    for g, (base, ours) in results.items():
        n, shape = GEOMETRIES[g]["n"], "x".join(map(str, GEOMETRIES[g]["shape"]))
        print(f"| {g}: {n} x {shape} | {base:.2f} | {ours:.2f} | {ours / base:.2f}x |")


if __name__ == "__main__":
    main()
