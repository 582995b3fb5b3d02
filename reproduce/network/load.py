"""The converted network in torch: a network file loaded through onnx2torch, its pooling chosen,
and Caffe's blobs read by name.

A network file is NAME.onnx with its record NAME.json (reproduce.network.file): data only,
converted to a torch GraphModule by onnx2torch when loaded. `Network.blobs(x, names)` runs only
the layers those blobs need. Process-wide speed settings (allocator, TF32) are the caller's:
reproduce.network.runtime.configure_runtime.
"""
import functools
import os
from collections.abc import Iterable, Iterator
from typing import Any

import onnx
import onnx2torch
import torch
from torch import fx, nn

from reproduce.errors import ParameterError
from reproduce.network import POOLINGS, PRECISIONS, NetworkError
from reproduce.network.file import read_network
from reproduce.network.runtime import device_kind
from reproduce.network.stages import output_nodes, outputs_in_order, staged


def _set_pooling(module: nn.Module, pooling: str) -> None:
    """Swap every pooling layer for the other kind with the same geometry. torch's AvgPool2d with
    count_include_pad divides by the window clipped to the padded image, exactly as Caffe's AVE."""
    for name, child in list(module.named_children()):
        replacement: nn.Module
        if pooling == "avg" and isinstance(child, nn.MaxPool2d):
            replacement = nn.AvgPool2d(child.kernel_size, child.stride, child.padding,
                                       ceil_mode=child.ceil_mode, count_include_pad=True)
        elif pooling == "max" and isinstance(child, nn.AvgPool2d):
            replacement = nn.MaxPool2d(child.kernel_size, child.stride, child.padding,
                                       ceil_mode=child.ceil_mode)
        else:
            continue
        setattr(module, name, replacement)


class Network:
    """A converted Caffe network; `blobs(x, names)` returns Caffe's blobs for input x.

    `recompute` (False unless set): a gradient through `blobs` recomputes the network's stages
    in the backward pass instead of keeping their activations (reproduce.network.stages);
    reproduce.run.memory.plan sets it when a run needs it."""

    def __init__(self, module: fx.GraphModule, blob_names: Iterable[str], input_name: str,
                 meta: dict[str, Any], sha256: str, device: str | torch.device = "cpu",
                 channels_last: bool | None = None, precision: str = "float32") -> None:
        """sha256: the network file's, as read. channels_last: run in N×H×W×C memory layout
        (None: on CPU only, where it is faster). precision: the arithmetic, float32 (Caffe's)
        or float64; inputs are taken in it."""
        self.device = torch.device(device)
        self.dtype = getattr(torch, precision)
        if channels_last is None:
            channels_last = self.device.type == "cpu"
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.module = module.to(self.device, self.dtype).to(memory_format=self.memory_format) \
            .eval().requires_grad_(False)
        self.blob_names = list(blob_names)
        self.input_name = input_name
        self.meta = meta
        self.sha256 = sha256
        self._outputs = dict(zip(self.blob_names, output_nodes(module)))
        self._truncated: dict[tuple[str, ...], fx.GraphModule] = {}
        self._staged: dict[tuple[tuple[str, ...], bool], fx.GraphModule] = {}
        self.recompute = False

    def check_image_input(self) -> None:
        """One line unless the network takes images: 3 channels (BGR minus the mean)."""
        channels = self.meta.get("input", {}).get("shape", [None, None])[1]
        if channels != 3:
            raise NetworkError(f"the network takes {channels}-channel input; the method needs "
                               "a network that takes RGB images (3 channels), such as VGG-19")

    def check_blobs(self, names: Iterable[str]) -> None:
        """One line naming every blob (layer) this network does not have."""
        unknown = [n for n in names if n not in self._outputs and n != self.input_name]
        if unknown:
            raise NetworkError(f"unknown layer {', '.join(unknown)}; the network has "
                               f"{', '.join(self.blob_names)}")

    def module_for(self, names: tuple[str, ...]) -> fx.GraphModule:
        """A GraphModule that returns exactly `names` and holds only the layers they need."""
        if names not in self._truncated:
            graph, copies = fx.Graph(), {}  # type: ignore[var-annotated]
            graph.graph_copy(self.module.graph, copies)
            graph.output(tuple(copies[self._outputs[name]] for name in names))
            module = fx.GraphModule(self.module, graph)
            module.graph.eliminate_dead_code()  # needs the owning module to judge purity
            module.recompile()
            self._truncated[names] = module
        return self._truncated[names]

    def stages_for(self, names: tuple[str, ...], recompute: bool) -> fx.GraphModule:
        """module_for(names) in stages (reproduce.network.stages.staged), recomputed or not."""
        if (names, recompute) not in self._staged:
            self._staged[names, recompute] = staged(self.module_for(names), recompute)
        return self._staged[names, recompute]

    def blobs_in_order(self, x: torch.Tensor, names: Iterable[str]
                       ) -> Iterator[tuple[str, torch.Tensor]]:
        """(name, blob) for an N×C×H×W input in the network's input convention, each as soon as
        it is computed (the input's first), taken in the network's precision (a float32 input
        to a float32 network is not copied). With `recompute` set, a pass that autograd records
        recomputes its stages in the backward pass."""
        names = tuple(names)
        self.check_blobs(names)
        if self.input_name in names:
            yield self.input_name, x
        wanted = tuple(n for n in dict.fromkeys(names) if n != self.input_name)
        if not wanted:
            return
        inputs = x.to(self.dtype).contiguous(memory_format=self.memory_format)
        recompute = self.recompute and torch.is_grad_enabled() and inputs.requires_grad
        for i, blob in outputs_in_order(self.stages_for(wanted, recompute), inputs):
            yield wanted[i], blob

    def blobs(self, x: torch.Tensor, names: Iterable[str]) -> dict[str, torch.Tensor]:
        """{name: blob}: blobs_in_order, all at once."""
        return dict(self.blobs_in_order(x, names))


def to_torch(model: onnx.ModelProto) -> fx.GraphModule:
    """An ONNX model as a torch GraphModule (onnx2torch): Conv, pooling, Gemm as nn modules."""
    module: fx.GraphModule = onnx2torch.convert(model)
    return module


def load_network(path: str | os.PathLike[str], pooling: str | None = None, device: str = "cpu",
                 channels_last: bool | None = None, precision: str = "float32") -> Network:
    """Load a network file; pooling "avg" or "max" replaces every pooling layer by that kind
    (None keeps the file's); precision float32 (Caffe's) or float64. Changes no process-wide
    setting (see configure_runtime)."""
    if pooling is not None and pooling not in POOLINGS:
        raise ParameterError(f"pooling must be one of {', '.join(POOLINGS)}, not {pooling!r}")
    if precision not in PRECISIONS:
        raise ParameterError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    device_kind(device)
    read = read_network(path)
    module = to_torch(read.model)
    names, input_name, record, sha256 = read.blob_names, read.input_name, read.record, read.sha256
    del read  # the ONNX model: its weights now live in the module
    if pooling:
        _set_pooling(module, pooling)
    return Network(module, names, input_name, record, sha256, device, channels_last, precision)


@functools.cache
def loaded_network(path: str, pooling: str | None = None, device: str = "cpu",
                   precision: str = "float32") -> Network:
    """load_network, once per process for each file, pooling, device and precision: a process
    that renders many panels loads its network once."""
    return load_network(path, pooling=pooling, device=device, precision=precision)
