"""The memory a transfer needs, estimated before the work from its parts, against what the device
has; and the plan that makes it fit (docs/performance.md, "Memory").

Each part that grows with the image is measured on small probes and extended: one evaluation of
f and ∇f with the run's own objective on PROBES × PROBES images (what the backward pass keeps,
its gradients, the recomputation when on), and the optimiser over PROBE_VARIABLES variables for
PROBE_ITERATIONS iterations (it allocates all its pairs at the first update). The process's own
memory (libraries, the network's weights) is read as it stands.
"""
import dataclasses
import functools
import math
import os
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from reproduce.errors import ReproduceError
from reproduce.method.objective import Objective
from reproduce.method.spatial import RegionMasks
from reproduce.network.load import Network
from reproduce.network.runtime import freed_memory_kept, release_freed_memory
from reproduce.optim.minimiser import minimiser
from reproduce.run.config import TransferConfig
from reproduce.run.regions import parse_regions

PROBES = (32, 64)         # sides of the probe images (multiples of 16: pool4's output is whole)
PROBE_VARIABLES = 3 * 64**2      # the optimiser's probe: as many variables as a 64 × 64 image
PROBE_ITERATIONS = 3      # both L-BFGS-Bs allocate all MAXCOR pairs at the first (same bytes at 22)
SMALLEST = 4096           # LiveTensors counts storages of at least this many bytes
KEPT_HEAP = 2             # glibc keeping freed memory holds about one evaluation more (measured)


@dataclass(frozen=True)
class Estimate:
    """Bytes a run needs at its peak, by part."""
    process: int        # the process as it stands: libraries, the network's weights, inputs
    evaluation: int     # one evaluation of f and ∇f (twice with glibc's kept heap on the CPU)
    optimiser: int      # L-BFGS-B's MAXCOR pairs and its vectors
    recompute: bool     # the evaluation recomputes the network's stages in its backward pass

    @property
    def total(self) -> int:
        return self.process + self.evaluation + self.optimiser

    def as_record(self) -> dict[str, int | bool]:
        """As logs keep it: bytes by part, their total, and whether the run recomputes."""
        return dict(dataclasses.asdict(self), total=self.total)

    def describe(self) -> str:
        gib = 2.0**30
        return (f"about {self.total / gib:.1f} GiB (the process {self.process / gib:.1f}, one "
                f"evaluation {self.evaluation / gib:.1f}{' recomputed' if self.recompute else ''}"
                f", the optimiser {self.optimiser / gib:.1f})")


class LiveTensors(TorchDispatchMode):
    """The bytes of the tensors that torch's operations make while the mode is on, as many as
    are alive at once at most (`peak`): each output's storage counted from the operation that
    made it until it is freed (a view or an in-place result is its input's, not counted).
    Storages under SMALLEST bytes are left out: scalars do not grow with the image, and each
    operation looks at every storage counted."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, tuple[StorageWeakRef, int]] = {}
        self.peak = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        self.live = {key: entry for key, entry in self.live.items() if not entry[0].expired()}
        inputs = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs))
                  if isinstance(t, torch.Tensor)}
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in inputs:
                storage = t.untyped_storage()
                if storage.nbytes() >= SMALLEST:
                    self.live.setdefault(storage.data_ptr(),
                                         (StorageWeakRef(storage), storage.nbytes()))
        self.peak = max(self.peak, sum(size for _, size in self.live.values()))
        return out


def peak_bytes(fn: Callable[[], object], device: torch.device) -> int:
    """The most memory fn() holds at once beyond what was held before it: on CUDA torch's
    allocated peak; on the CPU its tensors' (LiveTensors) plus its NumPy arrays' (tracemalloc's
    peak)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    tracemalloc.start()
    try:
        with LiveTensors() as tensors:
            fn()
        numpy_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return tensors.peak + numpy_peak


def probe_objective(net: Network, config: TransferConfig, side: int) -> Objective:
    """The run's objective on side × side stand-ins for its images (seeded noise in the pixel
    range: a loss may refuse a flat image) and masks (all ones)."""
    generator = torch.Generator().manual_seed(0)

    def image() -> torch.Tensor:
        return (torch.rand(1, 3, side, side, generator=generator) * 255 - 128).to(net.device)

    ones = np.ones((side, side))
    order = list(config.style_images)
    regions = [RegionMasks(r.name, ones, order.index(r.style), ones)
               for r in parse_regions(config.regions)]
    return Objective(net, image() if config.content else None,
                     [image() for _ in config.style_images], config, regions)


def probe_evaluation(net: Network, config: TransferConfig, side: int, recompute: bool) -> int:
    """The peak of one evaluation of f and ∇f on a side × side probe."""
    was, x = net.recompute, torch.zeros(1, 3, side, side, device=net.device)
    with torch.random.fork_rng(devices=[net.device] if net.device.type == "cuda" else []):
        objective = probe_objective(net, config, side)  # a loss's draws leave the run's seed be
    try:
        net.recompute = recompute
        objective.value_and_grad(x)  # unmeasured: a first call keeps some memory of its own
        return peak_bytes(lambda: objective.value_and_grad(x), net.device)
    finally:
        net.recompute = was


def evaluation_bytes(net: Network, config: TransferConfig, shape_hw: tuple[int, int],
                     recompute: bool) -> int:
    """One evaluation of f and ∇f at an H×W image: measured on two probes, a part that grows
    with the pixels (the activations, their gradients) and one that does not (the Gram
    matrices, N_l² each), extended to H·W pixels."""
    small, large = (probe_evaluation(net, config, side, recompute) for side in PROBES)
    per_pixel = (large - small) / (PROBES[1]**2 - PROBES[0]**2)
    return math.ceil(small + per_pixel * (shape_hw[0] * shape_hw[1] - PROBES[0]**2))


def optimiser_bytes(optimiser: str, variables: int, device: torch.device) -> int:
    """L-BFGS-B's memory for `variables` variables with all MAXCOR pairs kept."""
    return math.ceil(optimiser_bytes_per_variable(optimiser, device) * variables)


@functools.cache
def optimiser_bytes_per_variable(optimiser: str, device: torch.device) -> float:
    """Measured on a quadratic with PROBE_VARIABLES variables over PROBE_ITERATIONS iterations
    (the same for every run: measured once a process)."""
    centre = torch.linspace(-1.0, 1.0, PROBE_VARIABLES, dtype=torch.float64, device=device)
    scale = torch.linspace(1.0, 9.0, PROBE_VARIABLES, dtype=torch.float64, device=device)
    bounds, start = (centre - 0.5, centre + 2.0), centre + 1.0

    def quadratic(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = (x - centre) * scale
        return 0.5 * (r * r).sum(), r * scale

    minimise = minimiser(optimiser)
    return peak_bytes(lambda: minimise(quadratic, start, bounds, PROBE_ITERATIONS), device) / \
        PROBE_VARIABLES


def process_bytes(device: torch.device) -> int:
    """The memory the process holds now: its resident set (CPU), torch's allocation (CUDA)."""
    if device.type == "cuda":
        return torch.cuda.memory_allocated(device)
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def device_bytes(device: str | torch.device) -> int:
    """The memory the device has: a GPU's total, or the machine's physical memory for the CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[1]
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def estimate(net: Network, config: TransferConfig, shape_hw: tuple[int, int],
             recompute: bool) -> Estimate:
    """What a run of `config` at an H×W image needs at its peak, by part. On the CPU without
    recomputation, where glibc keeps freed memory (the command lines: faster), the heap holds
    about KEPT_HEAP evaluations."""
    kept = KEPT_HEAP if net.device.type == "cpu" and freed_memory_kept() and not recompute else 1
    return Estimate(process_bytes(net.device),
                    kept * evaluation_bytes(net, config, shape_hw, recompute),
                    optimiser_bytes(config.optimiser, 3 * shape_hw[0] * shape_hw[1], net.device),
                    recompute)


def largest_fitting(need: Estimate, have: int, shape_hw: tuple[int, int]) -> tuple[int, int]:
    """The largest H×W of this aspect that `have` bytes hold, the parts that grow with the image
    growing with its pixels."""
    h, w = shape_hw
    scale = math.sqrt(max(have - need.process, 0) / max(need.total - need.process, 1))
    return math.floor(h * scale), math.floor(w * scale)


def plan(net: Network, config: TransferConfig, shape_hw: tuple[int, int], parameter: str
         ) -> Estimate:
    """The estimate a run at an H×W image goes with, and its settings: recomputation (--recompute
    on, or auto when the run would not fit without it) sets net.recompute and on the CPU hands
    freed memory back to the system (glibc's defaults). One line naming the estimate, the
    parameter (`parameter`, the flag that set the size) and what would fit, if nothing does."""
    have = device_bytes(net.device)
    need = estimate(net, config, shape_hw, recompute=config.recompute == "on")
    if need.total > have and config.recompute == "auto":
        need = estimate(net, config, shape_hw, recompute=True)
    if need.total > have:
        raise ReproduceError(f"{parameter}: {too_large(need, have, shape_hw, net.device)}"
                             f"{'; --recompute on may fit it' if config.recompute == 'off' else ''}")
    net.recompute = need.recompute
    if need.recompute and net.device.type == "cpu":
        release_freed_memory()
    return need


def too_large(need: Estimate, have: int, shape_hw: tuple[int, int], device: torch.device) -> str:
    h, w = shape_hw
    fit_h, fit_w = largest_fitting(need, have, shape_hw)
    return (f"an {h}×{w} image needs {need.describe()}, more than the {have / 2**30:.1f} GiB of "
            f"{device}; at most about {fit_h}×{fit_w} fits")


def check_forward(net: Network, config: TransferConfig, shape_hw: tuple[int, int],
                  parameter: str) -> None:
    """One line unless an H×W image's evaluation fits beside the process (a bound for the
    forward passes that make targets)."""
    have = device_bytes(net.device)
    need = dataclasses.replace(estimate(net, config, shape_hw, recompute=False), optimiser=0)
    if need.total > have:
        raise ReproduceError(f"{parameter}: {too_large(need, have, shape_hw, net.device)}")
