import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.data import MetaTensor

from medunet.transforms import (
    BACKGROUND,
    BORDER,
    CELL,
    InstanceToSemantic,
    InstanceToSemanticd,
    instance_border,
    instance_to_semantic,
)
from tests.transforms.synthetic import slabs, touching_cells


def touching_pair(shape=(4, 10)):
    """Cell 3 on columns 0..4, cell 8 on columns 5..9 of the last axis: they touch between columns 4 and 5."""
    return slabs(shape, {3: (0, 5), 8: (5, 10)})


@pytest.mark.parametrize("shape", [(4, 10), (3, 4, 10)])
def test_touching_interface_becomes_border(shape):
    target = instance_to_semantic(touching_pair(shape))
    assert target.dtype == np.uint8 and target.shape == shape
    expected = np.full(10, CELL)
    expected[[4, 5]] = BORDER  # one pixel on each side of the interface
    np.testing.assert_array_equal(target, np.broadcast_to(expected, shape))


def test_modes():
    labels = touching_pair()
    np.testing.assert_array_equal(instance_to_semantic(labels, mode="binary"), 1)
    separated = instance_to_semantic(labels, mode="separated")
    np.testing.assert_array_equal(separated[0], [1, 1, 1, 1, 0, 0, 1, 1, 1, 1])


def test_narrow_gap_background_is_border():
    labels = np.zeros((3, 9), np.int64)
    labels[:, 0:4] = 1
    labels[:, 5:9] = 2  # 1-pixel gap on column 4
    target = instance_to_semantic(labels)
    np.testing.assert_array_equal(target[1], [1, 1, 1, 1, 2, 1, 1, 1, 1])
    labels[:, 4:6] = 0  # 2-pixel gap: no pixel within 1.5 of both cells
    np.testing.assert_array_equal(instance_to_semantic(labels)[1], [1, 1, 1, 1, 0, 0, 1, 1, 1])
    wide = instance_to_semantic(labels, border_distance=2.0)[1]
    np.testing.assert_array_equal(wide, [1, 1, 1, 1, 2, 2, 1, 1, 1])


def test_diagonal_contact_is_carved_at_default_distance():
    labels = np.zeros((4, 4), np.int64)
    labels[:2, :2] = 1
    labels[2:, 2:] = 2  # corner to corner
    np.testing.assert_array_equal(np.argwhere(instance_border(labels, border_distance=1.0)), [[1, 2], [2, 1]])
    np.testing.assert_array_equal(np.argwhere(instance_border(labels)), [[1, 1], [1, 2], [2, 1], [2, 2]])
    # radius 1 leaves the corner pixels (1, 1) and (2, 2) in their cells, diagonal neighbours; 1.5 carves them
    assert instance_to_semantic(labels, border_distance=1.0)[1, 1] == CELL


def test_anisotropic_spacing_shrinks_the_ball():
    labels = np.zeros((4, 3, 3), np.int64)
    labels[:2] = 1
    labels[2:] = 2  # touching across axis 0
    assert not instance_border(labels, spacing=(2.0, 1.0, 1.0)).any()  # slices 2 units apart, radius 1.5
    np.testing.assert_array_equal(
        np.nonzero(instance_border(labels, border_distance=2.0, spacing=(2, 1, 1)))[0], [1] * 9 + [2] * 9
    )


@pytest.mark.parametrize("shape", [(7, 8), (4, 5, 6)])
def test_single_instance_and_empty_have_no_border(shape):
    labels = np.zeros(shape, np.int64)
    np.testing.assert_array_equal(instance_to_semantic(labels), BACKGROUND)
    labels[1:3, 1:4] = 9
    np.testing.assert_array_equal(instance_to_semantic(labels), labels > 0)


def test_touching_cells_classes_are_consistent():
    labels = touching_cells((40, 44), 12, 9, seed=1)
    target = instance_to_semantic(labels)
    border = target == BORDER
    assert border.any() and (target == CELL).any()
    np.testing.assert_array_equal(target == CELL, (labels > 0) & ~border)
    assert (labels[border] > 0).mean() > 0.5  # mostly carved out of the cells


@pytest.mark.parametrize(
    ("kwargs", "match"), [(dict(mode="onehot"), "mode"), (dict(border_distance=0), "border_distance")]
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        instance_to_semantic(touching_pair(), **kwargs)
    with pytest.raises(ValueError, match=match):
        InstanceToSemantic(**kwargs)


def test_array_transform_kinds_and_layouts():
    labels = touching_pair()
    expected = instance_to_semantic(labels)
    np.testing.assert_array_equal(InstanceToSemantic()(labels), expected)
    out = InstanceToSemantic()(torch.as_tensor(labels[None]))
    assert type(out) is torch.Tensor and out.dtype == torch.uint8 and out.shape == (1, 4, 10)
    meta = MetaTensor(torch.as_tensor(labels[None, None], dtype=torch.float32), meta={"filename_or_obj": "x.nii"})
    out = InstanceToSemantic(mode="binary")(meta[0])
    assert isinstance(out, MetaTensor) and out.meta["filename_or_obj"] == "x.nii"
    np.testing.assert_array_equal(out[0].numpy(), 1)


def test_dict_transform_and_config():
    labels = touching_pair((3, 4, 10))[None]
    config = {"t": {"_target_": "medunet.transforms.InstanceToSemanticd", "keys": "label", "semantic_key": "target"}}
    transform = ConfigParser(config).get_parsed_content("t")
    out = transform({"label": labels})
    assert out["label"] is labels
    np.testing.assert_array_equal(out["target"][0], instance_to_semantic(labels[0]))
    in_place = InstanceToSemanticd("label", mode="separated")({"label": labels})
    np.testing.assert_array_equal(in_place["label"][0], instance_to_semantic(labels[0], mode="separated"))
    with pytest.raises(ValueError, match="own `semantic_key`"):
        InstanceToSemanticd(["a", "b"], semantic_key="t")
