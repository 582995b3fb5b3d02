"""Images in and out, and Caffe VGG's input convention: BGR, 0–255, minus the per-channel mean."""
import imageio.v3 as iio
import numpy as np
import torch
import torch.nn.functional as nnf

from reproduce.errors import ReproduceError
from reproduce.files import atomic_path

MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
READ_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")  # images in folders
WRITE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")  # 8-bit RGB writers


def load_image(path, long_side=None):
    """Read an image as float32 H×W×3 RGB in 0..255; grayscale is repeated, alpha dropped,
    palettes applied, 16-bit scaled to 0..255. Optionally resize to a given long side."""
    try:
        image = np.asarray(iio.imread(path, index=0))
    except FileNotFoundError:
        raise ReproduceError(f"{path}: no such image") from None
    except Exception as e:  # imageio raises many kinds for undecodable data
        raise ReproduceError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None
    if image.size == 0:
        raise ReproduceError(f"{path}: empty image")
    scale = 255.0 / np.iinfo(image.dtype).max if image.dtype.kind in "ui" else 255.0
    image = image.astype(np.float32) * scale
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4):
        raise ReproduceError(f"{path}: unsupported image layout {image.shape}")
    channels = image.shape[2]
    image = np.repeat(image[..., :1], 3, axis=2) if channels < 3 else image[..., :3]
    return resize(image, long_side_shape(image.shape[:2], long_side)) if long_side else image


def long_side_shape(shape_hw, long_side):
    """(H, W) scaled so that the longer side is `long_side`, aspect kept."""
    h, w = shape_hw
    scale = long_side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def resize(image, shape_hw):
    """Resize an H×W×3 float image (bicubic, antialiased when shrinking), clipped to 0..255."""
    if tuple(image.shape[:2]) == tuple(shape_hw):
        return image
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
    y = nnf.interpolate(x, size=tuple(shape_hw), mode="bicubic", antialias=True, align_corners=False)
    return y[0].permute(1, 2, 0).clamp(0, 255).numpy()


def save_image(path, rgb):
    """Write an RGB image, clipped and rounded to 8 bits, atomically (format from the suffix)."""
    pixels = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, pixels)


def preprocess(rgb, device="cpu"):
    """H×W×3 RGB 0..255 -> 1×3×H×W float32 tensor as Caffe's data blob holds it (BGR − mean)."""
    bgr = rgb[..., ::-1] - MEAN_BGR
    return torch.from_numpy(np.ascontiguousarray(bgr.transpose(2, 0, 1)))[None].to(device)


def deprocess(x):
    """The inverse of `preprocess`: 1×3×H×W tensor -> H×W×3 RGB float32 (not clipped)."""
    bgr = x.detach()[0].cpu().numpy().transpose(1, 2, 0) + MEAN_BGR
    return np.ascontiguousarray(bgr[..., ::-1])


def pixel_bounds(shape_hw):
    """Per-pixel (low, high) of the preprocessed image in C×H×W order: 0..255 minus the mean."""
    low = np.broadcast_to(-MEAN_BGR[:, None, None], (3, *shape_hw)).ravel()
    return low, low + 255.0


def scaled_style_shape(shape_hw, scale):
    """The painting's (H, W) at `scale` × the shape the paper takes it at (neural-style's
    -style_scale, beyond the 2015 paper): round(scale · H) × round(scale · W), at least 1×1.
    Scale 1 gives `shape_hw` itself."""
    if not (np.isfinite(scale) and scale > 0):
        raise ReproduceError(f"--style-scale must be a finite positive number, not {scale}")
    h, w = shape_hw
    return max(1, round(h * scale)), max(1, round(w * scale))
