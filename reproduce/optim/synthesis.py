"""Image synthesis by gradient descent on the pixels (the paper's method), on tensors alone:
no files, progress bars or logs (reproduce.run.transfer adds those).

Every optimiser takes `(fun, x0, bounds, iterations, callback)`, with fun(x) -> (f, g) and
x0, bounds, f, g float64 tensors on the network's device, and returns (x, f, iterations done,
stop reason); `callback(x, f)` runs after each iteration, and Ctrl-C propagates.
"""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from reproduce.errors import ReproduceError
from reproduce.method.image import pixel_bounds
from reproduce.method.objective import Objective, as_floats
from reproduce.optim.device import lbfgs_on_device
from reproduce.optim.scipy_lbfgsb import converged, lbfgs_tensors

OPTIMISERS = {"scipy": lbfgs_tensors,      # scipy's L-BFGS-B, as the authors ran it
              "device": lbfgs_on_device}   # an L-BFGS whose state stays on the device


@dataclass
class Synthesis:
    """What a synthesis reached: the image (1×3×H×W, preprocessed), its losses (floats), the
    iterations done, why it stopped, and whether it did what was asked (every iteration, or a
    stop that is the optimiser's own judgement of convergence)."""
    image: torch.Tensor
    losses: dict
    iterations: int
    stop: str
    completed: bool


def synthesise(objective: Objective, x0, bounds=None, optimiser: str = "scipy",
               iterations: int = 1000,
               callback: Callable[[int, torch.Tensor, dict], None] | None = None) -> Synthesis:
    """Minimise the objective over the pixels from x0 (a 1×3×H×W preprocessed image: tensor or
    array), within `bounds` (low, high: numbers or arrays of x0's shape; default the pixel
    range 0..255 minus the mean), for at most `iterations` iterations of OPTIMISERS[optimiser].

    `callback(iteration, x, losses)` runs after every iteration with the current image and its
    losses as floats. On Ctrl-C or SIGTERM the KeyboardInterrupt propagates with `.result`, the
    Synthesis of the last completed iterate (completed False)."""
    if optimiser not in OPTIMISERS:
        raise ReproduceError(f"optimiser must be one of {', '.join(OPTIMISERS)}, not {optimiser!r}")
    device = objective.net.device
    x0 = torch.as_tensor(x0)
    if x0.ndim != 4 or x0.shape[:2] != (1, 3):
        raise ReproduceError(f"the start image must be 1×3×H×W, not {tuple(x0.shape)}")
    shape = tuple(x0.shape)
    if bounds is None:
        bounds = [torch.from_numpy(b) for b in pixel_bounds(shape[2:])]
    low, high = (_flat(b, shape, device) for b in bounds)
    start = torch.clamp(x0.to(device, torch.float64).reshape(-1), low, high)

    def image(flat):
        return flat.float().view(shape)

    state = {"x": start, "n": 0}

    def fun(flat):
        total, grad, L = objective.value_and_grad(image(flat))
        state["L"] = L
        return total.double(), grad.reshape(-1).double()

    def after_iteration(flat, f):
        state.update(x=flat, n=state["n"] + 1)
        if callback:
            callback(state["n"], image(flat), as_floats(state["L"]))

    try:
        flat, _, n, stop = OPTIMISERS[optimiser](fun, start, (low, high), iterations,
                                                 after_iteration)
    except KeyboardInterrupt as interrupt:
        x = image(state["x"])
        interrupt.result = Synthesis(x, objective.values(x), state["n"], "interrupted", False)
        raise
    x = image(flat)
    return Synthesis(x, objective.values(x), n, stop, n >= iterations or converged(stop))


def _flat(bound, shape, device):
    """A bound (a number, or an array of the image's shape or size) as a flat float64 tensor."""
    b = torch.as_tensor(bound, dtype=torch.float64).to(device)
    if b.numel() == np.prod(shape):
        b = b.reshape(shape)
    try:
        return b.broadcast_to(shape).reshape(-1)
    except RuntimeError:
        raise ReproduceError(f"bounds must be numbers or arrays of the start image's shape "
                             f"{shape}, not {tuple(b.shape)}") from None
