import numpy as np
import pytest
import torch

from medunet.metrics.utils import as_tensor, connected_components, contingency, instance_maps, to_label_map


def test_to_label_map_keeps_single_channel_labels_and_argmaxes_one_hot():
    labels = torch.tensor([[[0, 2], [1, 1]]])[:, None]  # (1, 1, 2, 2)
    assert torch.equal(to_label_map(labels.float()), labels[:, 0])
    one_hot = torch.nn.functional.one_hot(labels[:, 0], 3).permute(0, 3, 1, 2)
    assert torch.equal(to_label_map(one_hot), labels[:, 0])
    assert to_label_map(labels.bool()).dtype == torch.int64


def test_to_label_map_refuses_probabilities_and_missing_channel_axis():
    with pytest.raises(ValueError, match="non-integral"):
        to_label_map(torch.full((1, 1, 3, 3), 0.7))
    with pytest.raises(ValueError, match=r"\(B, C, \*spatial\)"):
        to_label_map(torch.zeros(4, 4))


def test_as_tensor_accepts_numpy_and_torch_only():
    assert torch.equal(as_tensor(np.arange(3), "x"), torch.arange(3))
    with pytest.raises(TypeError, match="list"):
        as_tensor([1, 2], "x")


def test_connected_components_2d_connectivity():
    mask = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 0]])
    assert connected_components(mask).max() == 1  # diagonal neighbours join with full connectivity
    four = connected_components(mask, connectivity=1)
    assert four.max() == 2 and four[0, 0] != four[1, 1]
    with pytest.raises(ValueError, match="connectivity"):
        connected_components(mask, connectivity=3)


def test_connected_components_3d():
    mask = torch.zeros(3, 4, 5, dtype=torch.bool)
    mask[0, 0, 0] = mask[1, 1, 1] = True  # corner-touching: 26- but not 6-connected
    mask[2, 3, 4] = True
    assert connected_components(mask).max() == 2
    assert connected_components(mask, connectivity=1).max() == 3


def test_instance_maps_labels_only_the_named_inputs():
    semantic = torch.tensor([[1, 1, 0, 1]])
    pred, true = instance_maps(semantic, semantic, "pred")
    assert pred.tolist() == [[1, 1, 0, 2]] and true.tolist() == [[1, 1, 0, 1]]
    pred, true = instance_maps(semantic, semantic, "both")
    assert torch.equal(pred, true)
    with pytest.raises(ValueError, match="label_components"):
        instance_maps(semantic, semantic, "yes")


@pytest.mark.parametrize("offset", [0, -5, 10**12])  # counting path, and the sorting path for odd label values
def test_contingency_hand_checked(offset):
    true = np.array([[0, 0, 1], [1, 1, 2]]) + offset
    pred = np.array([[0, 3, 3], [3, 0, 0]]) + offset
    t = contingency(true, pred)
    assert t.true_ids.tolist() == [offset, offset + 1, offset + 2]
    assert t.pred_ids.tolist() == [offset, offset + 3]
    table = np.zeros((3, 2), dtype=int)
    table[t.true_index, t.pred_index] = t.counts
    assert table.tolist() == [[1, 1], [1, 2], [1, 0]]
    assert t.true_sizes.tolist() == [2, 3, 1] and t.pred_sizes.tolist() == [3, 3]
