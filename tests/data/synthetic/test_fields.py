import numpy as np
import pytest

from medunet.data.synthetic.fields import smooth_noise


@pytest.mark.parametrize(("shape", "scale"), [((31, 17), 4.0), ((9, 10, 11), (1.0, 2.0, 3.0)), ((5,), 1.0)])
def test_shape_dtype_and_normalisation(shape, scale):
    field = smooth_noise(np.random.default_rng(0), shape, scale)
    assert field.shape == shape and field.dtype == np.float32
    assert abs(field.mean()) < 1e-5 and field.std() == pytest.approx(1, abs=1e-5)


def test_scale_sets_smoothness_and_seed_sets_values():
    fine, coarse = (smooth_noise(np.random.default_rng(1), (128, 128), s) for s in (2.0, 16.0))
    step = [np.abs(np.diff(f, axis=0)).mean() for f in (fine, coarse)]
    assert step[0] > 4 * step[1]  # neighbours differ much more in the fine field
    assert np.array_equal(
        smooth_noise(np.random.default_rng(5), (8, 8), 2), smooth_noise(np.random.default_rng(5), (8, 8), 2)
    )
    assert not np.array_equal(
        smooth_noise(np.random.default_rng(5), (8, 8), 2), smooth_noise(np.random.default_rng(6), (8, 8), 2)
    )


def test_rejects_sub_voxel_scale():
    with pytest.raises(ValueError, match="scale"):
        smooth_noise(np.random.default_rng(0), (8, 8), 0.5)
