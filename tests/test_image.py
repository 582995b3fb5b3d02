"""Image input and output, and the Caffe VGG input convention."""
import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image

from reproduce.errors import ReproduceError
from reproduce.image import (
    MEAN_BGR,
    deprocess,
    load_image,
    pixel_bounds,
    preprocess,
    save_image,
    scaled_style_shape,
)

RGB = np.array([[[255, 0, 0], [0, 128, 255]], [[10, 20, 30], [200, 100, 50]]], dtype=np.uint8)


def test_rgb_png_round_trips(tmp_path):
    save_image(tmp_path / "x.png", RGB.astype(np.float32))
    np.testing.assert_array_equal(load_image(tmp_path / "x.png"), RGB.astype(np.float32))


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_other_layouts_become_rgb(tmp_path, mode):
    path = tmp_path / f"x_{mode.replace(';', '')}.png"
    gray = np.array([[0, 51], [102, 255]], dtype=np.uint8)
    if mode == "I;16":
        Image.fromarray(gray.astype(np.uint16) * 257).save(path)
        expected = np.repeat(gray[..., None], 3, axis=2)
    elif mode == "L":
        Image.fromarray(gray).save(path)
        expected = np.repeat(gray[..., None], 3, axis=2)
    else:
        Image.fromarray(RGB).convert(mode).save(path)
        expected = RGB
    image = load_image(path)
    assert image.shape == (2, 2, 3) and image.dtype == np.float32
    np.testing.assert_allclose(image, expected, atol=1e-3 if mode != "P" else 40)


def test_resize_to_long_side(tmp_path):
    iio.imwrite(tmp_path / "x.png", np.zeros((30, 60, 3), np.uint8))
    assert load_image(tmp_path / "x.png", long_side=20).shape == (10, 20, 3)


def test_preprocess_is_bgr_minus_mean():
    x = preprocess(RGB.astype(np.float32))
    assert x.shape == (1, 3, 2, 2) and x.dtype == torch.float32
    # pixel (0, 0) is pure red: B and G channels at 0, R at 255, each minus its mean
    np.testing.assert_allclose(x[0, :, 0, 0].numpy(), [0 - 103.939, 0 - 116.779, 255 - 123.68],
                               rtol=1e-6)
    np.testing.assert_allclose(deprocess(x), RGB, atol=1e-4)
    low, high = pixel_bounds((2, 2))
    np.testing.assert_allclose(low.reshape(3, 2, 2)[:, 0, 0], -MEAN_BGR)
    np.testing.assert_allclose(high - low, 255.0)


def test_output_is_clipped_to_8_bits(tmp_path):
    save_image(tmp_path / "x.png", np.full((2, 2, 3), 300.0))
    assert iio.imread(tmp_path / "x.png").max() == 255


@pytest.mark.parametrize("content", [b"", b"not an image at all"])
def test_unreadable_images_are_reported(tmp_path, content):
    (tmp_path / "bad.png").write_bytes(content)
    with pytest.raises(ReproduceError, match="bad.png"):
        load_image(tmp_path / "bad.png")


def test_missing_image_is_reported(tmp_path):
    with pytest.raises(ReproduceError, match="no such image"):
        load_image(tmp_path / "missing.jpg")


def test_failed_write_leaves_no_file(tmp_path):
    with pytest.raises(OSError):
        save_image(tmp_path / "x.unknownformat", RGB)
    assert list(tmp_path.iterdir()) == []


def test_style_scale():
    """neural-style's style scale S (beyond the 2015 paper): S × the shape the paper takes."""
    for shape in [(384, 512), (37, 53), (1, 1), (511, 7)]:
        assert scaled_style_shape(shape, 1.0) == shape
    assert scaled_style_shape((384, 512), 2) == (768, 1024)
    assert scaled_style_shape((100, 150), 0.5) == (50, 75)
    assert scaled_style_shape((3, 5), 0.1) == (1, 1)
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ReproduceError, match="--style-scale must be a finite positive number"):
            scaled_style_shape((10, 10), bad)
