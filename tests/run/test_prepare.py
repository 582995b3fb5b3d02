"""The preparation a transfer and a scoring share (reproduce.run.prepare)."""
import pytest

from reproduce.errors import ParameterError
from reproduce.run.prepare import scaled_style_shape


def test_style_scale():
    """neural-style's style scale S (beyond the 2015 paper): S × the shape the paper takes."""
    for shape in [(384, 512), (37, 53), (1, 1), (511, 7)]:
        assert scaled_style_shape(shape, 1.0) == shape
    assert scaled_style_shape((384, 512), 2) == (768, 1024)
    assert scaled_style_shape((100, 150), 0.5) == (50, 75)
    assert scaled_style_shape((3, 5), 0.1) == (1, 1)
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ParameterError, match="style_scale must be a finite positive number"):
            scaled_style_shape((10, 10), bad)
