import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.data import MetaTensor
from monai.transforms import Compose

from medunet.transforms import (
    BratsRegionsToMSDLabel,
    BratsRegionsToMSDLabeld,
    ConvertMSDToBratsRegions,
    ConvertMSDToBratsRegionsd,
    MapBratsLabelsToMSD,
    MapBratsLabelsToMSDd,
)

MSD = [0, 1, 2, 3]  # bg, edema, necrosis/non-enhancing, enhancing
REGIONS = [[0, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1]]  # WT, TC, ET per label


def test_msd_to_regions_2d_numpy():
    out = ConvertMSDToBratsRegions()(np.array([[MSD]], dtype=np.uint8))  # (1, 1, 4)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8
    assert out[:, 0].tolist() == REGIONS


def test_msd_to_regions_3d_metatensor_keeps_metadata_and_dtype():
    label = MetaTensor(torch.tensor(MSD, dtype=torch.float32).reshape(1, 1, 2, 2), affine=torch.eye(4) * 2)
    out = ConvertMSDToBratsRegions()(label)
    assert isinstance(out, MetaTensor) and out.dtype == torch.float32 and out.shape == (3, 1, 2, 2)
    assert torch.equal(out.affine, label.affine)
    assert out.reshape(3, 4).tolist() == REGIONS


def test_msd_to_regions_rejects_missing_channel_and_brats_labels():
    with pytest.raises(ValueError, match=r"\(1, \*spatial\)"):
        ConvertMSDToBratsRegions()(np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"0\.\.3"):
        ConvertMSDToBratsRegions()(np.array([[[0, 4]]]))


def test_regions_to_msd_label_round_trip_and_nesting():
    label = torch.tensor(MSD).reshape(1, 2, 2)
    regions = ConvertMSDToBratsRegions()(label).float()
    assert torch.equal(BratsRegionsToMSDLabel()(regions), label.to(torch.uint8))
    # probabilities, not nested: ET without TC still becomes 3; below threshold stays background
    probs = np.array([[0.2, 0.9, 0.9], [0.1, 0.1, 0.8], [0.7, 0.3, 0.1]])[:, None]  # (3, 1, 3)
    assert BratsRegionsToMSDLabel()(probs).tolist() == [[[3, 1, 2]]]
    assert BratsRegionsToMSDLabel(threshold=0.05, dtype=np.int64)(probs).dtype == np.int64


def test_regions_to_msd_label_rejects_wrong_channels():
    with pytest.raises(ValueError, match="3 region channels"):
        BratsRegionsToMSDLabel()(torch.zeros(4, 2, 2))


def test_map_brats_to_msd():
    brats = np.array([[0, 1, 2, 3, 4]], dtype=np.int16)  # 0 bg, 1 NCR, 2 ED, 3 NET (legacy), 4 ET
    out = MapBratsLabelsToMSD()(brats)
    assert out.dtype == np.int16 and out.tolist() == [[0, 2, 1, 2, 3]]
    meta = MapBratsLabelsToMSD()(MetaTensor(torch.tensor([[[4.0, 2.0]]]), meta={"filename_or_obj": "seg.nii.gz"}))
    assert meta.tolist() == [[[3.0, 1.0]]] and meta.meta["filename_or_obj"] == "seg.nii.gz"
    with pytest.raises(ValueError, match=r"0\.\.4"):
        MapBratsLabelsToMSD()(np.array([5]))


def test_dictionary_versions_from_config():
    config = {
        "t": {
            "_target_": "Compose",
            "transforms": [
                {"_target_": "medunet.transforms.MapBratsLabelsToMSDd", "keys": "label"},
                {
                    "_target_": "medunet.transforms.ConvertMSDToBratsRegionsd",
                    "keys": ["label", "missing"],
                    "allow_missing_keys": True,
                },
                {"_target_": "medunet.transforms.BratsRegionsToMSDLabeld", "keys": "label", "threshold": 0.5},
            ],
        }
    }
    chain = ConfigParser(config).get_parsed_content("t")
    assert isinstance(chain, Compose)
    out = chain({"label": torch.tensor([[[0, 1, 2, 4]]]), "image": torch.zeros(1)})
    assert out["label"].tolist() == [[[0, 2, 1, 3]]] and out["image"].shape == (1,)
    assert isinstance(ConvertMSDToBratsRegionsd("label").transform, ConvertMSDToBratsRegions)
    assert isinstance(MapBratsLabelsToMSDd("label").transform, MapBratsLabelsToMSD)
    assert BratsRegionsToMSDLabeld("label", dtype=np.int32).transform.dtype == np.int32
