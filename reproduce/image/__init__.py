"""Images, shared by every stage: files in and out (Pillow, imageio) as H×W×3 float32 RGB in
0..255, and Caffe VGG's input convention (BGR, 0–255, minus the mean) as tensors.

The package's constants are data here, so that the configuration reads them without importing
torch."""
from typing import Any

import numpy as np
import numpy.typing as npt

from reproduce.lazy import lazy_exports

Array = npt.NDArray[Any]  # an image (H×W×3 RGB in 0..255, float32 as read) or any other array
MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)  # VGG's training mean, BGR
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")  # read and written
MAX_PIXELS = 100_000_000  # load_image's default limit on width × height (100 megapixels)

__all__ = ["Array", "IMAGE_SUFFIXES", "MAX_PIXELS", "MEAN_BGR", "deprocess", "image_files", "load_image",
           "long_side_shape", "pixel_bounds", "preprocess", "resize", "save_image"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "load_image": "files", "save_image": "files", "resize": "files", "long_side_shape": "files",
    "image_files": "files", "preprocess": "convention", "deprocess": "convention",
    "pixel_bounds": "convention"})
