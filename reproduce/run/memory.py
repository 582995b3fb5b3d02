"""The memory a synthesis needs, estimated before the work, against what the device has."""
import os
from collections.abc import Iterable

import torch
from torch.fx.passes.shape_prop import ShapeProp

from reproduce.errors import ReproduceError
from reproduce.network.load import Network

PROBE = 64         # side of the square input whose activations are measured, then scaled
PASSES = 2         # forward activations kept for the backward pass, and their gradients


def activation_bytes(net: Network, layers: Iterable[str], shape_hw: tuple[int, int]) -> int:
    """Estimated bytes of one evaluation with its gradient at an H×W input: every value the
    network computes on the way to `layers` (forward; the graph Network.module_for runs),
    once more for the backward pass, in the network's precision. Measured at PROBE×PROBE and scaled by the
    pixel count."""
    module = net.module_for(tuple(dict.fromkeys(l for l in layers if l != net.input_name)))
    probe = torch.zeros(1, 3, PROBE, PROBE, device=net.device, dtype=net.dtype)
    with torch.no_grad():
        ShapeProp(module).propagate(probe.contiguous(memory_format=net.memory_format))
    counted = sum(node.meta["tensor_meta"].shape.numel() for node in module.graph.nodes
                  if node.op != "output" and hasattr(node.meta.get("tensor_meta"), "shape"))
    h, w = shape_hw
    itemsize: int = net.dtype.itemsize
    return int(counted * (h * w) / PROBE**2) * itemsize * PASSES


def device_bytes(device: str | torch.device) -> int:
    """The memory the device has: a GPU's total, or the machine's physical memory for the CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[1]
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(net: Network, layers: Iterable[str], shape_hw: tuple[int, int], parameter: str) -> int:
    """The estimate (activation_bytes); one line naming it and `parameter` (the size that sets
    shape_hw, as the caller names it) if the device has less."""
    need, have = activation_bytes(net, layers, shape_hw), device_bytes(net.device)
    if need > have:
        h, w = shape_hw
        raise ReproduceError(f"{parameter}: an {h}×{w} image needs about {need / 2**30:.1f} GiB for "
                             f"the network's activations, more than the {have / 2**30:.1f} GiB "
                             f"of {net.device}")
    return need
