"""The devices this machine can run on, and the process-wide settings a long run wants, made once
by the command lines and benchmarks (measured in docs/performance.md): glibc keeping freed memory
on the CPU, IEEE float32 or TF32 on CUDA."""
import ctypes
import sys

import torch

from reproduce.errors import ParameterError

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's mallopt parameters
GLIBC_TRIM_THRESHOLD, GLIBC_MMAP_MAX = 128 * 1024, 65536  # their defaults (mallopt(3))
_kept = False  # whether keep_freed_memory is in effect


def default_device() -> str:
    """"cuda" when torch sees a CUDA device, else "cpu": the command lines' default."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def device_kind(device: str | torch.device) -> str:
    """"cpu" or "cuda" for a device this machine can run on; a ParameterError for any other."""
    try:
        kind = torch.device(device).type
    except RuntimeError:
        kind = None
    if kind not in ("cpu", "cuda"):
        raise ParameterError(f"unknown device {device!r}: use cpu, cuda or cuda:N")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device {device!r} asked for, but torch sees no CUDA device here")
    return kind


def keep_freed_memory() -> None:
    """Make glibc keep freed memory for reuse instead of handing it back to the system (Linux).

    Each evaluation allocates and frees the same activations, up to 64 MB each at 512 px; glibc
    maps blocks that large afresh every time and page-faults them in again, which cost 5-18% of
    a CPU evaluation (docs/performance.md). Elsewhere a no-op."""
    _mallopt(mmap_max=0, trim_threshold=2**31 - 1)


def release_freed_memory() -> None:
    """Undo keep_freed_memory: glibc's defaults, and what it holds freed handed back. A kept heap
    holds about one evaluation's memory more than the live peak (docs/performance.md, "Memory"):
    runs that recompute, to fit, hand it back (reproduce.run.memory.plan)."""
    if _mallopt(mmap_max=GLIBC_MMAP_MAX, trim_threshold=GLIBC_TRIM_THRESHOLD):
        ctypes.CDLL(None).malloc_trim(0)


def freed_memory_kept() -> bool:
    """Whether keep_freed_memory is in effect (and not released since)."""
    return _kept


def _mallopt(mmap_max: int, trim_threshold: int) -> bool:
    """Set glibc's M_MMAP_MAX and M_TRIM_THRESHOLD (Linux; False elsewhere)."""
    global _kept
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None) if sys.platform == "linux" else None
    if not mallopt:
        return False
    mallopt(M_MMAP_MAX, mmap_max)
    mallopt(M_TRIM_THRESHOLD, trim_threshold)
    _kept = mmap_max == 0
    return True


def set_tf32(enabled: bool) -> None:
    """TF32 in CUDA convolutions and matrix products. Off means IEEE float32, as Caffe computed;
    torch itself turns TF32 on for cuDNN convolutions unless told otherwise."""
    precision = "tf32" if enabled else "ieee"
    torch.backends.cudnn.conv.fp32_precision = precision  # type: ignore[attr-defined]
    torch.backends.cuda.matmul.fp32_precision = precision


def configure_runtime(device: str, tf32: bool = False) -> None:
    """The process-wide settings a long run wants, for the command lines and benchmarks to call
    once: on the CPU, glibc keeps freed memory; on CUDA, TF32 as asked (off: IEEE float32)."""
    if device_kind(device) == "cpu":
        keep_freed_memory()
    else:
        set_tf32(tf32)
