import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.data import MetaTensor

from medunet.postprocessing import SemanticToInstances, SemanticToInstancesd, semantic_to_instances
from medunet.transforms import instance_to_semantic
from tests.transforms.synthetic import slabs, touching_cells


def one_hot(classes, channels=3):
    """Class map -> ``(C, *spatial)`` probabilities: 0.8 on the class, the rest shared."""
    probs = np.full((channels, *classes.shape), 0.2 / (channels - 1))
    np.put_along_axis(probs, classes[None].astype(np.int64), 0.8, axis=0)
    return probs


def touching_pair(shape=(5, 12)):
    """Cells 1 and 2 on columns 1..5 and 6..10, touching; background columns 0 and 11."""
    return slabs(shape, {1: (1, 6), 2: (6, 11)})


@pytest.mark.parametrize("shape", [(5, 12), (4, 5, 12)])
def test_round_trip_recovers_touching_cells(shape):
    labels = touching_pair(shape)
    instances = semantic_to_instances(one_hot(instance_to_semantic(labels)))
    assert instances.dtype == np.int32 and instances.shape == shape
    np.testing.assert_array_equal(instances, labels)


def test_without_growth_instances_lose_the_border_band():
    labels = touching_pair()
    instances = semantic_to_instances(one_hot(instance_to_semantic(labels)), watershed_growth=False)
    expected = labels.copy()
    expected[:, [5, 6]] = 0
    np.testing.assert_array_equal(instances, expected)


def test_border_separates_what_argmax_foreground_would_merge():
    classes = instance_to_semantic(touching_pair())
    assert semantic_to_instances(one_hot(classes)).max() == 2
    merged = semantic_to_instances(one_hot((classes > 0).astype(np.int64), channels=2))  # binary: one blob
    np.testing.assert_array_equal(merged, touching_pair() > 0)


def test_growth_stays_out_of_background_and_unreached_border():
    classes = np.zeros((3, 9), np.int64)
    classes[:, 0:3] = 1
    classes[:, 3] = 2
    classes[:, 7] = 2  # a border island touching no cell
    instances = semantic_to_instances(one_hot(classes))
    np.testing.assert_array_equal(instances[1], [1, 1, 1, 1, 0, 0, 0, 0, 0])


def test_threshold_seeds():
    probs = np.zeros((3, 1, 6))  # per pixel (background, cell, border)
    probs[:, 0] = np.array(
        [(0.1, 0.8, 0.1), (0.1, 0.55, 0.35), (0.1, 0.3, 0.6), (0.1, 0.8, 0.1), (0.1, 0.8, 0.1), (1, 0, 0)]
    ).T
    seeds_argmax = semantic_to_instances(probs, watershed_growth=False)[0]
    np.testing.assert_array_equal(seeds_argmax, [1, 1, 0, 2, 2, 0])
    np.testing.assert_array_equal(semantic_to_instances(probs, 0.6, watershed_growth=False)[0], [1, 0, 0, 2, 2, 0])
    np.testing.assert_array_equal(semantic_to_instances(probs, 0.6)[0], [1, 1, 2, 2, 2, 0])  # nearest seed wins


def test_label_map_input_min_size_and_consecutive_ids():
    classes = np.zeros((1, 6, 12))
    classes[0, 0:2, 0:2] = 1  # 4 pixels
    classes[0, 4:6, 4:5] = 1  # 2 pixels: removed
    classes[0, 0:3, 8:12] = 1  # 12 pixels
    instances = semantic_to_instances(classes, min_size=3)
    assert sorted(np.unique(instances)) == [0, 1, 2]
    assert (instances == 2).sum() == 12 and (instances[4:6, 4] == 0).all()


@pytest.mark.parametrize(("connectivity", "count"), [(1, 2), (2, 1)])
def test_connectivity(connectivity, count):
    classes = np.zeros((1, 4, 4))
    classes[0, :2, :2] = classes[0, 2:, 2:] = 1
    assert semantic_to_instances(classes, connectivity=connectivity).max() == count


def test_synthetic_touching_cells_3d_round_trip():
    labels = touching_cells((20, 22, 24), 8, 8, seed=2)
    instances = semantic_to_instances(one_hot(instance_to_semantic(labels)), min_size=10)
    matched = 0
    for i in np.unique(labels[labels > 0]):
        ids, counts = np.unique(instances[labels == i], return_counts=True)
        best = ids[np.argmax(counts)]
        iou = counts.max() / np.logical_or(labels == i, instances == best).sum()
        matched += best > 0 and iou > 0.8
    assert matched >= 0.8 * (np.unique(labels).size - 1)


@pytest.mark.parametrize(
    ("pred", "kwargs", "match"),
    [
        (np.zeros((4, 5, 5)), {}, "C in 1..3"),
        (np.zeros((5, 5)), {}, "C in 1..3"),
        (np.zeros((1, 5, 5)), dict(threshold=0.5), "needs probabilities"),
        (np.zeros((3, 5, 5)), dict(threshold=1.5), "threshold"),
        (np.zeros((3, 5, 5)), dict(min_size=-1), "min_size"),
        (np.zeros((3, 5, 5)), dict(connectivity=4), "connectivity"),
    ],
)
def test_bad_arguments(pred, kwargs, match):
    with pytest.raises(ValueError, match=match):
        semantic_to_instances(pred, **kwargs)


def test_transforms_kinds_and_config():
    probs = one_hot(instance_to_semantic(touching_pair()))
    expected = semantic_to_instances(probs)
    out = SemanticToInstances()(torch.as_tensor(probs, dtype=torch.float32))
    assert type(out) is torch.Tensor and out.dtype == torch.int32 and out.shape == (1, 5, 12)
    np.testing.assert_array_equal(out[0].numpy(), expected)
    meta = MetaTensor(torch.as_tensor(probs), meta={"filename_or_obj": "cells.tif"})
    out = SemanticToInstances()(meta)
    assert isinstance(out, MetaTensor) and out.meta["filename_or_obj"] == "cells.tif"
    config = {
        "post": {
            "_target_": "Compose",
            "transforms": [
                {"_target_": "Activationsd", "keys": "pred", "softmax": True},
                {"_target_": "medunet.postprocessing.SemanticToInstancesd", "keys": "pred", "instance_key": "cells"},
            ],
        }
    }
    post = ConfigParser(config).get_parsed_content("post")
    data = post({"pred": torch.as_tensor(np.log(probs), dtype=torch.float32)})
    np.testing.assert_array_equal(data["cells"][0].numpy(), expected)
    assert data["pred"].shape == (3, 5, 12)
    in_place = SemanticToInstancesd("pred")({"pred": probs})
    np.testing.assert_array_equal(in_place["pred"], expected[None])
    with pytest.raises(ValueError, match="min_size"):
        SemanticToInstances(min_size=1.5)
