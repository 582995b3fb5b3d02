"""What every optimiser takes and returns, and the optimisers by name (reproduce.optim.OPTIMISERS).

An optimiser is a module with `minimise(fun, x0, bounds, iterations, callback) -> Minimum`:
fun(x) -> (f, g) with x0, the bounds (low, high), f and g float64 tensors on the network's
device; `callback(x, f)` runs after each iteration; Ctrl-C propagates.
"""
import importlib
from collections.abc import Callable
from typing import NamedTuple, Protocol

import torch

from reproduce.errors import ParameterError, ReproduceError
from reproduce.optim import OPTIMISERS

MAXCOR = 20  # curvature pairs kept, as in the authors' code
Fun = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
Callback = Callable[[torch.Tensor, float], None]


class Minimum(NamedTuple):
    """Where an optimiser stopped: x, f(x), the iterations done and why it stopped."""
    x: torch.Tensor
    f: float
    iterations: int
    stop: str


class Minimise(Protocol):
    def __call__(self, fun: Fun, x0: torch.Tensor, bounds: tuple[torch.Tensor, torch.Tensor],
                 iterations: int, callback: Callback | None = None) -> Minimum: ...


class NonFiniteLoss(ReproduceError):
    """The objective returned NaN or infinity."""

    def __init__(self, f: float, iteration: int) -> None:
        super().__init__(f"the loss became non-finite ({f}) in iteration {iteration}; "
                         "check α, β and the input images")


def minimiser(name: str) -> Minimise:
    """The `minimise` of the optimiser called `name` (one of OPTIMISERS)."""
    if name not in OPTIMISERS:
        raise ParameterError(f"optimiser must be one of {', '.join(OPTIMISERS)}, not {name!r}")
    minimise: Minimise = importlib.import_module(f"reproduce.optim.{OPTIMISERS[name]}").minimise
    return minimise


def converged(stop: str) -> bool:
    """Whether a stop reason is the optimiser's own judgement of convergence (scipy's
    "CONVERGENCE: ..." messages, or a zero projected gradient) rather than a failure."""
    return stop.upper().startswith("CONVERGENCE") or stop == "the projected gradient is zero"
