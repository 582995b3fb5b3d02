"""Image files in and out, as H×W×3 float32 RGB in 0..255.

Images are read with Pillow: every colour mode it decodes (CMYK, also Adobe's inverted JPEGs,
YCbCr, LAB, HSV, palettes with transparency, 16-bit gray, ...) becomes RGB, or is refused in one
line. An image above `MAX_PIXELS` (width × height) is refused before it is decoded; a large image
is shrunk in Pillow (a JPEG decoded at 1/2, 1/4 or 1/8 scale, then integer box reduction) to
within twice the size asked for, before the last antialiased bicubic step in float.
"""
import contextlib
import os
import pathlib
from collections.abc import Iterator
from typing import Any

import imageio.v3 as iio
import numpy as np
import torch
import torch.nn.functional as nnf
from PIL import Image, UnidentifiedImageError

from reproduce.errors import ParameterError, ReproduceError, interrupts_deferred
from reproduce.files import PathLike, atomic_path
from reproduce.image import IMAGE_SUFFIXES, MAX_PIXELS, Array

SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")  # 16-bit gray, read as 0..65535
ORIENTATION_TAG = 0x0112  # EXIF's orientation: how to turn the stored pixels to show them
ORIENTATIONS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
                8: Image.Transpose.ROTATE_90}
QUARTER_TURNS = (Image.Transpose.TRANSPOSE, Image.Transpose.ROTATE_270,
                 Image.Transpose.TRANSVERSE, Image.Transpose.ROTATE_90)


def load_image(path: PathLike, long_side: int | None = None, max_pixels: int = MAX_PIXELS) -> Array:
    """Read an image as float32 H×W×3 RGB in 0..255: colour modes converted by Pillow (alpha
    dropped, palettes applied), gray repeated, 16-bit scaled to 0..255, turned upright as its
    EXIF orientation says (as image viewers show it). Optionally resize to a given long side.
    Images (or a long side) of more than `max_pixels` pixels are refused."""
    if long_side is not None and long_side < 0:
        raise ParameterError(f"long_side must be positive, not {long_side}")
    with _opened(path) as image:
        _check_pixels(path, image.size, max_pixels, "the image")
        w, h = image.size  # as stored; upright, a turn by 90° swaps them
        if long_side:
            _check_pixels(path, long_side_shape((h, w), long_side)[::-1], max_pixels,
                          f"a long side of {long_side}")
        turn = _orientation(image)  # after the checks: a PNG's EXIF may follow its pixels
        if not long_side:
            return _rgb(path, _upright(_shrunk(path, image, None)[0], turn))
        upright = (w, h) if turn not in QUARTER_TURNS else (h, w)
        shape = long_side_shape(upright[::-1], long_side)
        stored = shape if turn not in QUARTER_TURNS else shape[::-1]
        image, factor = _shrunk(path, image, stored)
        rgb = _rgb(path, _upright(image, turn))
    if factor == 1:
        return resize(rgb, shape)
    # each pixel now stands for factor × factor pixels of the original (the last row and column
    # for what remained): scale by the original's ratio so every pixel keeps its place. The
    # output has floor(size × scale) pixels: a nudge of 1e-9 keeps rounding from losing one.
    scale = tuple(n * factor / m * (1 + 1e-9) for n, m in zip(shape, upright[::-1]))
    return _interpolate(rgb, scale_factor=scale, recompute_scale_factor=False)


def _orientation(image: Image.Image) -> Image.Transpose | None:
    """The turn that shows an image upright, from its EXIF orientation (None: as stored)."""
    try:
        orientation = image.getexif().get(ORIENTATION_TAG, 1)
    except (OSError, ValueError, SyntaxError):  # unreadable EXIF: shown as stored, as viewers do
        return None
    return ORIENTATIONS.get(orientation)


def _upright(image: Image.Image, turn: Image.Transpose | None) -> Image.Image:
    return image if turn is None else image.transpose(turn)


@contextlib.contextmanager
def _opened(path: PathLike) -> Iterator[Image.Image]:
    """The image, opened (its header read, its pixels not yet decoded), or a one-line error."""
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # load_image's own limit rules
    try:
        image = Image.open(path)
    except FileNotFoundError:
        raise ReproduceError(f"{path}: no such image") from None
    except IsADirectoryError:
        raise ReproduceError(f"{path}: is a folder, not an image") from None
    except UnidentifiedImageError:
        raise ReproduceError(f"{path}: not a readable image (empty, or not an image format "
                             "Pillow knows)") from None
    except OSError as e:
        if e.errno is not None:   # the file system's error, not the data's
            raise ReproduceError(f"{path}: cannot read the image ({e.strerror})") from None
        raise ReproduceError(f"{path}: not a readable image ({e})") from None
    except (SyntaxError, ValueError, EOFError) as e:
        raise ReproduceError(f"{path}: not a readable image ({e})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    with image:
        yield image


def _check_pixels(path: PathLike, size_wh: tuple[int, int], max_pixels: int, what: str) -> None:
    w, h = size_wh
    if w * h > max_pixels:
        raise ReproduceError(f"{path}: {what} is {w}×{h} = {w * h:,} pixels, above the limit of "
                             f"{max_pixels:,} (raise it with max_pixels)")
    if w * h == 0:
        raise ReproduceError(f"{path}: empty image ({w}×{h})")


def _decoded(path: PathLike, image: Image.Image) -> Image.Image:
    """Decode the pixels, or a one-line error (truncated or corrupt data)."""
    try:
        image.load()
    except MemoryError:
        raise ReproduceError(f"{path}: not enough memory to decode {image.size[0]}×"
                             f"{image.size[1]} pixels") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ReproduceError(f"{path}: not a readable image ({e})") from None
    return image


def _shrunk(path: PathLike, image: Image.Image,
            shape_hw: tuple[int, int] | None) -> tuple[Image.Image, int]:
    """The decoded image, reduced in Pillow to no less than twice `shape_hw` (when given): a JPEG
    decoded at 1/2, 1/4 or 1/8 scale, then box-averaged by an integer factor; and that overall
    factor. Palettes are applied and 16-bit gray widened first (averaging needs pixel values)."""
    factor = 1
    if shape_hw is not None:
        width = image.size[0]
        drafted = image.draft(image.mode, (2 * shape_hw[1], 2 * shape_hw[0]))  # JPEG only
        if drafted:   # (mode, the original's box in the decoded image: (0, 0, W / s, H / s))
            factor = round(width / drafted[1][2])
    image = _decoded(path, image)
    if image.mode in ("P", "PA"):
        has_alpha = image.mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    elif image.mode == "1":
        image = image.convert("L")
    elif image.mode in SIXTEEN_BIT:
        image = image.convert("I")
    if shape_hw is None:
        return image, factor
    reduce = min(image.size[0] // (2 * shape_hw[1]), image.size[1] // (2 * shape_hw[0]))
    if reduce < 2:
        return image, factor
    if image.mode not in ("L", "LA", "RGB", "RGBA", "CMYK", "I", "F"):
        image = _to_rgb(path, image)   # modes that Image.reduce does not average
    return image.reduce(reduce), factor * reduce


def _to_rgb(path: PathLike, image: Image.Image) -> Image.Image:
    try:
        return image.convert("RGB")
    except ValueError:
        raise ReproduceError(f"{path}: colour mode {image.mode} cannot be converted to RGB") from None


def _rgb(path: PathLike, image: Image.Image) -> Array:
    """A decoded Pillow image as float32 H×W×3 RGB in 0..255."""
    if image.mode in ("I", "F"):  # 32-bit gray: 16-bit files widened, or floats in 0..1
        gray = np.asarray(image, dtype=np.float32)
        top = 65535.0 if image.mode == "I" else 1.0
        if gray.min() < 0 or gray.max() > top:
            raise ReproduceError(f"{path}: {image.mode} pixels from {gray.min():g} to "
                                 f"{gray.max():g}, outside 0..{top:g}: not a displayable image")
        return np.repeat((gray * np.float32(255.0 / top))[..., None], 3, axis=2)
    return np.asarray(_to_rgb(path, image), dtype=np.float32)


def long_side_shape(shape_hw: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(H, W) scaled so that the longer side is `long_side`, aspect kept."""
    h, w = shape_hw
    scale = long_side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def centre_square(image: Array) -> Array:
    """The largest square of an H×W×… image, centred (the odd pixel, if any, left out at the
    end)."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[top:top + side, left:left + side]


def resize(image: Array, shape_hw: tuple[int, int]) -> Array:
    """Resize an H×W×3 float image (bicubic, antialiased when shrinking), clipped to 0..255."""
    if tuple(image.shape[:2]) == tuple(shape_hw):
        return image
    return _interpolate(image, size=tuple(shape_hw))


def upsample(image: Array, shape_hw: tuple[int, int]) -> Array:
    """Enlarge an H×W×3 float image bilinearly (coarse to fine: a stage's result as the next
    stage's start), clipped to 0..255."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
    y = nnf.interpolate(x, size=tuple(shape_hw), mode="bilinear", align_corners=False)
    return y[0].permute(1, 2, 0).clamp(0, 255).numpy()


def _interpolate(image: Array, **size: Any) -> Array:
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
    y = nnf.interpolate(x, mode="bicubic", antialias=True, align_corners=False, **size)
    return y[0].permute(1, 2, 0).clamp(0, 255).numpy()


def _check_suffix(path: PathLike) -> None:
    if os.path.splitext(path)[1].lower() not in IMAGE_SUFFIXES:
        raise ReproduceError(f"{path}: cannot write this kind of image; the suffix must be one "
                             f"of {', '.join(IMAGE_SUFFIXES)}")


def write_image(path: PathLike, rgb: Array) -> None:
    """Write an RGB image, clipped and rounded to 8 bits, in the format its suffix names (one
    of IMAGE_SUFFIXES); save_image writes atomically. Ctrl-C or SIGTERM waits for the write
    to end: imageio's Pillow plugin, cut short, raises an AttributeError in place of the
    interrupt."""
    _check_suffix(path)
    with interrupts_deferred():
        iio.imwrite(os.fspath(path), np.clip(np.rint(rgb), 0, 255).astype(np.uint8))


def save_image(path: PathLike, rgb: Array) -> None:
    """write_image, atomically: a half-written image never stands under `path`."""
    _check_suffix(path)  # before a temporary is made
    with atomic_path(path) as tmp:
        write_image(tmp, rgb)


def image_files(folder: str | os.PathLike[str]) -> list[pathlib.Path]:
    """The images directly in a folder (by suffix, IMAGE_SUFFIXES), sorted by name."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise ReproduceError(f"{folder}: no such image folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
