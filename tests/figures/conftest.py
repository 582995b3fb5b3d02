"""Fixtures of the figure tests: a --data folder with stand-ins for the images the repository
does not hold."""
import imageio.v3 as iio
import numpy as np
import pytest

# what --data supplies: Femme nue assise, and the CVPR Figs. 5 and 7 images (their shapes)
NOT_SHIPPED = {"seated-nude.jpg": (52, 40), "cottage.jpg": (40, 56), "jesuiten_iii.jpg": (48, 40),
               "london_day.jpg": (36, 52), "new_york_night.jpg": (40, 60)}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A --data folder with stand-ins (random pixels) for the images the repository does not
    hold."""
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for name, shape in NOT_SHIPPED.items():
        iio.imwrite(folder / name, rng.integers(0, 256, (*shape, 3), dtype=np.uint8))
    return folder
