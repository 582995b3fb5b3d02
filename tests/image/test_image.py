"""Image input and output, and the Caffe VGG input convention."""
import os
import signal

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from reproduce.errors import Interrupted, ParameterError, ReproduceError, interrupts_raise
from reproduce.image import (
    MAX_PIXELS,
    MEAN_BGR,
    deprocess,
    load_image,
    long_side_shape,
    pixel_bounds,
    preprocess,
    resize,
    save_image,
)
from reproduce.image.files import write_image
from tests.helpers import load_script

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
    with pytest.raises(ParameterError, match="long_side must be positive, not -5"):
        load_image(tmp_path / "x.png", long_side=-5)


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


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n garbage"])
def test_unreadable_images_are_reported_in_one_line(tmp_path, content):
    (tmp_path / "bad.png").write_bytes(content)
    with pytest.raises(ReproduceError, match="bad.png: not a readable image") as error:
        load_image(tmp_path / "bad.png")
    message = str(error.value)
    assert "\n" not in message and "plugin" not in message and "imageio" not in message


def test_missing_image_is_reported(tmp_path):
    with pytest.raises(ReproduceError, match="no such image"):
        load_image(tmp_path / "missing.jpg")


@pytest.mark.parametrize("name", ["x.unknownformat", "x", "x.gif"])
def test_an_unknown_suffix_is_refused_before_writing(tmp_path, name):
    with pytest.raises(ReproduceError, match=f"{name}: cannot write .*one of .png, .jpg"):
        save_image(tmp_path / name, RGB)
    assert list(tmp_path.iterdir()) == []


def smooth(h, w):
    """An H×W×3 uint8 image of smooth, distinct ramps in R, G and B."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = [255 * x / (w - 1), 255 * y / (h - 1), 127.5 + 127.5 * np.sin(2 * np.pi * (x / w + y / h))]
    return np.rint(np.stack(rgb, axis=2)).astype(np.uint8)


def test_a_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    """Pillow writes CMYK JPEGs as Adobe does, inverted with an APP14 "Adobe" marker."""
    rgb = smooth(48, 64)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "x.jpg", quality=95)
    assert b"Adobe" in (tmp_path / "x.jpg").read_bytes()[:200]
    image = load_image(tmp_path / "x.jpg")
    for channel in range(3):
        r = np.corrcoef(image[..., channel].ravel(), rgb[..., channel].ravel())[0, 1]
        assert r > 0.95, (channel, r)
    assert np.abs(image - rgb).mean() < 3


@pytest.mark.parametrize("mode, suffix, atol", [
    ("CMYK", ".tif", 1), ("YCbCr", ".tif", 3), ("LAB", ".tif", 32), ("RGBA", ".tif", 0),
    ("PA", ".tif", 0), ("P-transparent", ".png", 0), ("LA", ".png", 0), ("1", ".png", 0),
    ("I", ".tif", 0.01), ("F", ".tif", 0.01)])
def test_every_colour_mode_becomes_rgb(tmp_path, mode, suffix, atol):
    rgb = smooth(12, 16)
    gray = rgb[..., 0]
    expected = rgb
    if mode in ("PA", "P-transparent"):   # an exact palette: at most 256 colours
        rgb = (rgb // 64 * 64).astype(np.uint8)
        expected, image = rgb, Image.fromarray(rgb).quantize(colors=64)
        if mode == "PA":
            image = image.convert("PA")
        else:
            image.info["transparency"] = 0
    elif mode in ("LA", "1"):
        binary = mode == "1"
        gray = np.where(gray > 127, 255, 0).astype(np.uint8) if binary else gray
        expected = np.repeat(gray[..., None], 3, axis=2)
        image = Image.fromarray(gray).convert(mode)
    elif mode == "I":   # 16-bit values in a 32-bit integer image
        image = Image.fromarray(gray.astype(np.int32) * 257)
        expected = np.repeat(gray[..., None], 3, axis=2)
    elif mode == "F":   # floats in 0..1
        image = Image.fromarray(gray.astype(np.float32) / 255)
        expected = np.repeat(gray[..., None], 3, axis=2)
    else:
        image = Image.fromarray(rgb).convert(mode)
    path = tmp_path / f"x{suffix}"
    image.save(path, **({"transparency": 0} if mode == "P-transparent" else {}))
    assert Image.open(path).mode == mode.split("-")[0]
    loaded = load_image(path)
    assert loaded.shape == (12, 16, 3) and loaded.dtype == np.float32
    np.testing.assert_allclose(loaded, expected, atol=atol)  # LAB: 8 bits lose dark shades
    assert np.abs(loaded - expected).mean() < 3


@pytest.mark.parametrize("mode, values, message", [
    ("I", [0, 70_000], "I pixels from 0 to 70000, outside 0..65535"),
    ("F", [0.0, 2.0], "F pixels from 0 to 2, outside 0..1")])
def test_gray_values_out_of_range_are_refused(tmp_path, mode, values, message):
    dtype = np.int32 if mode == "I" else np.float32
    Image.fromarray(np.array([values], dtype=dtype)).save(tmp_path / "x.tif")
    with pytest.raises(ReproduceError, match=message):
        load_image(tmp_path / "x.tif")


def test_images_above_the_pixel_limit_are_refused_before_decoding(tmp_path, monkeypatch):
    assert MAX_PIXELS == 100_000_000   # the documented default: 100 megapixels
    Image.fromarray(smooth(100, 200)).save(tmp_path / "x.png")

    def no_decoding(self):
        raise AssertionError("decoded")
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ReproduceError, match=r"x.png: the image is 200×100 = 20,000 pixels, "
                                             r"above the limit of 19,999 \(raise it with max_pixels\)"):
        load_image(tmp_path / "x.png", max_pixels=19_999)
    with pytest.raises(ReproduceError, match=r"a long side of 400 is 400×200 = 80,000 pixels"):
        load_image(tmp_path / "x.png", long_side=400, max_pixels=79_999)
    monkeypatch.undo()
    assert load_image(tmp_path / "x.png", max_pixels=20_000).shape == (100, 200, 3)


def test_a_shrink_within_twice_the_target_is_the_plain_resize(tmp_path):
    """Below the 2x the long side asked for, nothing is reduced in Pillow: the result is the
    float resize of the whole image, exactly as before."""
    Image.fromarray(smooth(150, 200)).save(tmp_path / "x.png")
    whole = load_image(tmp_path / "x.png")
    np.testing.assert_array_equal(load_image(tmp_path / "x.png", 100), resize(whole, (75, 100)))


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_large_shrink_in_pillow_matches_the_float_resize(tmp_path, suffix):
    """A 1/8 reduction (JPEG: decoded at 1/4 scale) then the float resize, against the float
    resize of the whole image: within a grey level or two on a smooth image."""
    Image.fromarray(smooth(600, 800)).save(tmp_path / f"x{suffix}", quality=95)
    whole = load_image(tmp_path / f"x{suffix}")
    small = load_image(tmp_path / f"x{suffix}", 50)
    assert small.shape == (38, 50, 3)
    difference = np.abs(small - resize(whole, (38, 50)))
    assert difference.mean() < 1.0 and difference.max() < 8


@pytest.mark.parametrize("h, w, long_side", [(30, 88, 15), (40, 201, 29), (90, 268, 29),
                                              (300, 2100, 30), (2000, 97, 7)])
def test_a_shrink_in_pillow_gives_exactly_the_shape_asked_for(tmp_path, h, w, long_side):
    """Sizes where floor(size × scale) in floating point falls one short of the target."""
    Image.fromarray(smooth(h, w)).save(tmp_path / "x.png")
    assert load_image(tmp_path / "x.png", long_side).shape == (*long_side_shape((h, w),
                                                                                long_side), 3)


def test_shrinking_a_large_png_keeps_no_full_size_float_copy(tmp_path):
    """4000×4000 RGB: Pillow holds it in 64 MB (4 bytes a pixel); a float32 copy would add 192 MB.
    scripts/bench_image_load.py measures the 12000×12000 case (peak under 1.5 GB)."""
    bench = load_script("bench_image_load")
    bench.write_smooth_png(tmp_path / "big.png", 4000)
    shape, before, peak = bench.peak_mb(tmp_path / "big.png", 32, 20_000_000)
    assert shape == (32, 32, 3)
    assert peak - before < 64 * 1.6, (before, peak)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_exif_orientation_is_applied_as_viewers_do(tmp_path, orientation):
    """A camera's JPEG stored sideways is read upright: the same pixels as Pillow's own
    ImageOps.exif_transpose gives, at full size and at a long side (where the JPEG is decoded
    at a fraction of its size, in the stored orientation, before it is turned)."""
    from PIL import ImageOps
    stored = Image.fromarray(smooth(300, 800))  # wide as stored, so a quarter turn shows
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "camera.jpg"
    stored.save(path, exif=exif, quality=95)
    with Image.open(path) as opened:
        upright = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"), np.float32)
    np.testing.assert_array_equal(load_image(path), upright)
    small = load_image(path, long_side=100)
    assert small.shape == ((100, 38, 3) if orientation >= 5 else (38, 100, 3))
    expected = resize(upright, small.shape[:2])
    assert np.abs(small - expected).mean() < 2.0  # the same picture, the same way up


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_a_write_waits_for_the_image_to_be_whole(tmp_path, monkeypatch, signum):
    """The signal lands inside imageio's write (as a user's Ctrl-C can): the image is written
    whole, then the run stops with the interrupt that signal stands for, not another error."""
    path, rgb = tmp_path / "out.png", np.full((6, 5, 3), 200.0)
    imwrite = iio.imwrite

    def signalled_write(*args, **kwargs):
        os.kill(os.getpid(), signum)  # handled at once in the main thread: inside the write
        return imwrite(*args, **kwargs)

    monkeypatch.setattr(iio, "imwrite", signalled_write)
    with pytest.raises(Interrupted) as stopped, interrupts_raise():
        write_image(path, rgb)
    assert stopped.value.signum == signum
    assert (iio.imread(path) == 200).all()
