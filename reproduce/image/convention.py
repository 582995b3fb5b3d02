"""Caffe VGG's input convention: BGR, 0–255, minus the per-channel mean (B 103.939, G 116.779,
R 123.68), as a 1×3×H×W float32 tensor."""
import numpy as np
import torch

from reproduce.image import MEAN_BGR


def preprocess(rgb: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """H×W×3 RGB 0..255 -> 1×3×H×W float32 tensor as Caffe's data blob holds it (BGR − mean)."""
    bgr = rgb[..., ::-1] - MEAN_BGR
    return torch.from_numpy(np.ascontiguousarray(bgr.transpose(2, 0, 1)))[None].to(device)


def deprocess(x: torch.Tensor) -> np.ndarray:
    """The inverse of `preprocess`: 1×3×H×W tensor -> H×W×3 RGB float32 (not clipped)."""
    bgr = x.detach()[0].cpu().float().numpy().transpose(1, 2, 0) + MEAN_BGR
    return np.ascontiguousarray(bgr[..., ::-1])


def pixel_bounds(shape_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel (low, high) of the preprocessed image in C×H×W order: 0..255 minus the mean."""
    low = np.broadcast_to(-MEAN_BGR[:, None, None], (3, *shape_hw)).ravel()
    return low, low + 255.0
