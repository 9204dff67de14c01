import time

import numpy as np
import pytest
import tifffile
from monai.bundle import ConfigParser
from scipy import ndimage

from medunet.data.synthetic.cells import make_cells


@pytest.fixture(scope="module")
def full_size():
    """One default 512 x 512 fluorescence image and one phase image."""
    return make_cells(1, seed=3), make_cells(1, seed=3, style="phase")


def _touching_pairs(labels):
    """Border length (pixel pairs) of every pair of touching cells."""
    pairs = []
    for a, b in ((labels[:-1], labels[1:]), (labels[:, :-1], labels[:, 1:])):
        touch = (a != b) & (a > 0) & (b > 0)
        pairs.append(np.sort(np.stack([a[touch], b[touch]], axis=1), axis=1))
    ids, length = np.unique(np.concatenate(pairs), axis=0, return_counts=True)
    return ids, length


def test_types_ranges_and_sequential_labels(full_size):
    (images, labels), _ = full_size
    assert images.shape == labels.shape == (1, 512, 512)
    assert images.dtype == np.float32 and labels.dtype == np.int32
    assert images.min() == 0 and images.max() == 1
    k = labels.max()
    assert np.array_equal(np.unique(labels), np.arange(k + 1))  # background + cells 1..k


def test_default_density_touching_clusters_and_varied_sizes(full_size):
    (_, labels), _ = full_size
    label = labels[0]
    assert 90 <= label.max() <= 170
    ids, length = _touching_pairs(label)
    assert len(ids) > label.max() // 2  # most cells touch a neighbour
    assert np.count_nonzero(length >= 20) > 20  # many long shared borders (>= 10 px each side)
    areas = np.bincount(label.ravel())[1:]
    assert areas.std() / areas.mean() > 0.25
    assert 0.3 < np.count_nonzero(label) / label.size < 0.8  # background remains


def test_every_cell_is_one_connected_piece():
    _, labels = make_cells(1, size=(160, 144), seed=1)
    pieces = [ndimage.label(labels[0] == i)[1] for i in range(1, labels.max() + 1)]
    assert pieces == [1] * labels.max()


def test_contrast_by_style(full_size):
    (fluo, labels), (phase, phase_labels) = full_size
    assert np.array_equal(labels, phase_labels)  # the style changes only the rendering
    inside = labels[0] > 0
    assert fluo[0][inside].mean() > fluo[0][~inside].mean() + 0.25  # bright cells on a dark background
    assert phase[0][inside].mean() < phase[0][~inside].mean() - 0.05  # darker cells on a grey background


def test_reproducible_and_image_independent_of_n():
    a_img, a_lab = make_cells(3, size=(67, 45), seed=7)
    b_img, b_lab = make_cells(2, size=(67, 45), seed=7)
    assert np.array_equal(a_img[:2], b_img) and np.array_equal(a_lab[:2], b_lab)
    assert not np.array_equal(a_lab[0], a_lab[1])
    assert not np.array_equal(make_cells(1, size=(67, 45), seed=8)[1], a_lab[:1])


def test_options():
    _, few = make_cells(1, size=(128, 128), n_cells=5, cluster=0.0, radius=(8, 10))
    assert 1 <= few.max() <= 5
    assert len(_touching_pairs(few[0])[0]) == 0  # isolated cells never touch
    with pytest.raises(ValueError, match="style"):
        make_cells(1, style="brightfield")
    with pytest.raises(ValueError, match="size"):
        make_cells(1, size=(8, 8, 8))
    with pytest.raises(ValueError, match="radius"):
        make_cells(1, radius=(10, 5))


def test_under_one_second_per_image():
    seconds = []
    for seed in range(2):
        start = time.perf_counter()
        make_cells(1, seed=seed)
        seconds.append(time.perf_counter() - start)
    assert min(seconds) < 1.0


def test_write_cell_dataset_from_config(tmp_path):
    config = {
        "items": {
            "_target_": "medunet.data.synthetic.write_cell_dataset",
            "directory": str(tmp_path),
            "n": 2,
            "size": [48, 40],
            "seed": 4,
            "style": "phase",
        }
    }
    items = ConfigParser(config).get_parsed_content("items")
    images, labels = make_cells(2, size=(48, 40), seed=4, style="phase")
    assert [sorted(p.name for p in (tmp_path / d).iterdir()) for d in ("images", "labels")] == [
        ["cell_000.tif", "cell_001.tif"]
    ] * 2
    for item, image, label in zip(items, images, labels):
        stored_image, stored_label = tifffile.imread(item["image"]), tifffile.imread(item["label"])
        assert stored_image.dtype == stored_label.dtype == np.uint16
        assert np.array_equal(stored_label, label)
        assert np.abs(stored_image / 65535 - image).max() < 1e-4
