"""The converted network in torch: load it, pick the pooling, and read Caffe blobs by name.

A network file is NAME.onnx with its record NAME.json (reproduce/network_file.py): data only,
converted to a torch GraphModule by onnx2torch when loaded. `Network.blobs(x, names)` runs only
the layers those blobs need. Process-wide speed settings (allocator, TF32) are the caller's:
`configure_runtime`, measured in docs/performance.md.
"""
import ctypes
import functools
import os
import sys
from collections.abc import Iterable

import onnx2torch
import torch
from torch import fx, nn

from reproduce.files import ROOT
from reproduce.network.file import NetworkError, read_network

VGG19 = ROOT / "models" / "converted" / "vgg19.onnx"  # the default network file
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's mallopt parameters

__all__ = ["VGG19", "Network", "NetworkError", "configure_runtime", "load_network"]


def _set_pooling(module, pooling):
    """Swap every pooling layer for the other kind with the same geometry. torch's AvgPool2d with
    count_include_pad divides by the window clipped to the padded image, exactly as Caffe's AVE."""
    swap = {"avg": nn.MaxPool2d, "max": nn.AvgPool2d}[pooling]
    for name, child in list(module.named_children()):
        if isinstance(child, swap):
            geometry = dict(kernel_size=child.kernel_size, stride=child.stride,
                            padding=child.padding, ceil_mode=child.ceil_mode)
            if pooling == "avg":
                replacement = nn.AvgPool2d(count_include_pad=True, **geometry)
            else:
                replacement = nn.MaxPool2d(**geometry)
            setattr(module, name, replacement)


def output_nodes(module):
    """The fx nodes a GraphModule returns, in order (the i-th holds blob_names[i])."""
    output = next(n for n in module.graph.nodes if n.op == "output").args[0]
    return list(output) if isinstance(output, (tuple, list)) else [output]


class Network:
    """A converted Caffe network; `blobs(x, names)` returns Caffe's blobs for input x."""

    def __init__(self, module, blob_names, input_name, meta, sha256, device="cpu",
                 channels_last=None):
        """sha256: the network file's, as read. channels_last: run in N×H×W×C memory layout
        (None: on CPU only, where it is faster)."""
        self.device = torch.device(device)
        if channels_last is None:
            channels_last = self.device.type == "cpu"
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.module = module.to(self.device, memory_format=self.memory_format).eval() \
            .requires_grad_(False)
        self.blob_names = list(blob_names)
        self.input_name = input_name
        self.meta = meta
        self.sha256 = sha256
        self._outputs = dict(zip(self.blob_names, output_nodes(module)))
        self._truncated = {}

    def module_for(self, names):
        """A GraphModule that returns exactly `names` and holds only the layers they need."""
        if names not in self._truncated:
            graph, copies = fx.Graph(), {}
            graph.graph_copy(self.module.graph, copies)
            graph.output(tuple(copies[self._outputs[name]] for name in names))
            module = fx.GraphModule(self.module, graph)
            module.graph.eliminate_dead_code()  # needs the owning module to judge purity
            module.recompile()
            self._truncated[names] = module
        return self._truncated[names]

    def blobs(self, x: torch.Tensor, names: Iterable[str]) -> dict[str, torch.Tensor]:
        """{name: blob} for a float32 N×C×H×W input in the network's input convention."""
        names = tuple(names)
        unknown = [n for n in names if n not in self._outputs and n != self.input_name]
        if unknown:
            raise KeyError(f"no blob named {', '.join(unknown)}; this network has: "
                           f"{', '.join(self.blob_names)}")
        wanted = tuple(n for n in dict.fromkeys(names) if n != self.input_name)
        inputs = x.contiguous(memory_format=self.memory_format)
        values = self.module_for(wanted)(inputs) if wanted else ()
        result = dict(zip(wanted, values))
        if self.input_name in names:
            result[self.input_name] = x
        return result


def default_device():
    """"cuda" when torch sees a CUDA device, else "cpu": the command lines' default."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def device_kind(device):
    """"cpu" or "cuda" for a device this machine can run on; a NetworkError for any other."""
    try:
        kind = torch.device(device).type
    except RuntimeError:
        kind = None
    if kind not in ("cpu", "cuda"):
        raise NetworkError(f"unknown device {device!r}: use cpu, cuda or cuda:N")
    if kind == "cuda" and not torch.cuda.is_available():
        raise NetworkError(f"device {device!r} asked for, but torch sees no CUDA device here")
    return kind


def keep_freed_memory():
    """Make glibc keep freed memory for reuse instead of handing it back to the system (Linux).

    Each evaluation allocates and frees the same activations, up to 64 MB each at 512 px; glibc
    maps blocks that large afresh every time and page-faults them in again, which cost 5-18% of
    a CPU evaluation (docs/performance.md). Elsewhere a no-op."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None) if sys.platform == "linux" else None
    if mallopt:
        mallopt(M_MMAP_MAX, 0)
        mallopt(M_TRIM_THRESHOLD, 2**31 - 1)


def set_tf32(enabled):
    """TF32 in CUDA convolutions and matrix products. Off means IEEE float32, as Caffe computed;
    torch itself turns TF32 on for cuDNN convolutions unless told otherwise."""
    precision = "tf32" if enabled else "ieee"
    torch.backends.cudnn.conv.fp32_precision = precision
    torch.backends.cuda.matmul.fp32_precision = precision


def configure_runtime(device: str, tf32: bool = False) -> None:
    """The process-wide settings a long run wants, for the command lines and benchmarks to call
    once: on the CPU, glibc keeps freed memory; on CUDA, TF32 as asked (off: IEEE float32)."""
    if device_kind(device) == "cpu":
        keep_freed_memory()
    else:
        set_tf32(tf32)


def to_torch(model):
    """An ONNX model as a torch GraphModule (onnx2torch): Conv, pooling, Gemm as nn modules."""
    return onnx2torch.convert(model)


def load_network(path: str | os.PathLike, pooling: str | None = None, device: str = "cpu",
                 channels_last: bool | None = None) -> Network:
    """Load a network file; pooling "avg" or "max" replaces every pooling layer by that kind
    (None keeps the file's). Changes no process-wide setting (see configure_runtime)."""
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be 'avg' or 'max', not {pooling!r}")
    device_kind(device)
    model, blob_names, input_name, meta, sha256 = read_network(path)
    module = to_torch(model)
    del model
    if pooling:
        _set_pooling(module, pooling)
    return Network(module, blob_names, input_name, meta, sha256, device, channels_last)


@functools.cache
def loaded_network(path: str, pooling: str | None = None, device: str = "cpu") -> Network:
    """load_network, once per process for each file, pooling and device: a process that renders
    many panels loads its network once."""
    return load_network(path, pooling=pooling, device=device)
