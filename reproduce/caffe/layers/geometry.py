"""Window geometry shared by convolution and pooling: Caffe's (h, w) pairs and its checks."""
from typing import Any

from reproduce.caffe.read import CaffeError

Pair = tuple[int, int]


def pair(param: Any, scalar: str, h: str, w: str, default: int | None) -> Pair:
    """Caffe's (h, w) for kernel/stride/pad: explicit _h/_w, else the scalar (or repeated) field."""
    if param.HasField(h) or param.HasField(w):
        return getattr(param, h), getattr(param, w)
    value = getattr(param, scalar)
    if isinstance(value, int):  # PoolingParameter: a scalar with its schema default
        return value, value
    return (value[0], value[-1]) if len(value) else (default, default)  # type: ignore[return-value]


def check_geometry(where: str, kernel: Pair, stride: Pair) -> None:
    """Refuse a zero stride or kernel."""
    if min(stride) < 1:
        raise CaffeError(f"{where}: stride {stride[0]}×{stride[1]} must be positive")
    if min(kernel) < 1:
        raise CaffeError(f"{where}: kernel {kernel[0]}×{kernel[1]} must be positive")


def check_output(where: str, shape: tuple[int, ...], out: tuple[int, ...], kernel: Pair,
                 pad: Pair) -> None:
    """Refuse a window that leaves no output: larger than its padded input."""
    if min(out) < 1:
        raise CaffeError(f"{where}: kernel {kernel[0]}×{kernel[1]} is larger than its padded "
                         f"input {shape[1] + 2 * pad[0]}×{shape[2] + 2 * pad[1]}")
