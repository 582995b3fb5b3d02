"""Image synthesis by gradient descent on the pixels (the paper's method), on tensors alone: no
files, progress bars or logs (reproduce.run.transfer adds those)."""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from reproduce.errors import Interrupted, ParameterError, interrupt_signal
from reproduce.image.convention import pixel_bounds
from reproduce.method.objective import Losses, LossTerms, Objective
from reproduce.optim import DEFAULT_OPTIMISER
from reproduce.optim.minimiser import converged, minimiser

Bound = float | npt.ArrayLike | torch.Tensor


@dataclass
class Synthesis:
    """What a synthesis reached: the image (1×3×H×W, preprocessed), its losses, the iterations
    done, why it stopped, whether it did what was asked (every iteration, or a stop that is the
    optimiser's own judgement of convergence), and the evaluations of the loss and gradient it
    took (the line searches' included)."""
    image: torch.Tensor
    losses: Losses
    iterations: int
    stop: str
    completed: bool
    evaluations: int


class SynthesisInterrupted(Interrupted):
    """Ctrl-C or SIGTERM during a synthesis: `partial` is the Synthesis of the last completed
    iterate (completed False)."""

    def __init__(self, signum: int, partial: Synthesis) -> None:
        super().__init__(signum)
        self.partial = partial


def synthesise(objective: Objective, x0: torch.Tensor | np.ndarray,
               bounds: tuple[Bound, Bound] | None = None, optimiser: str = DEFAULT_OPTIMISER,
               iterations: int = 1000,
               callback: Callable[[int, torch.Tensor, Losses], None] | None = None) -> Synthesis:
    """Minimise the objective over the pixels from x0 (a 1×3×H×W preprocessed image: tensor or
    array), within `bounds` (low, high: numbers or arrays of x0's shape; default the pixel
    range 0..255 minus the mean), for at most `iterations` iterations of the optimiser called
    `optimiser` (reproduce.optim.OPTIMISERS).

    `callback(iteration, x, losses)` runs after every iteration with the current image and its
    losses. On Ctrl-C or SIGTERM it raises SynthesisInterrupted with the Synthesis of the last
    completed iterate."""
    minimise = minimiser(optimiser)
    device = objective.net.device
    x0 = torch.as_tensor(x0)
    if x0.ndim != 4 or x0.shape[:2] != (1, 3):
        raise ParameterError(f"the start image x0 must be 1×3×H×W, not {tuple(x0.shape)}")
    shape = tuple(x0.shape)
    if bounds is None:
        bounds = pixel_bounds((shape[2], shape[3]))
    low, high = (_flat(b, shape, device) for b in bounds)
    start = torch.clamp(x0.to(device, torch.float64).reshape(-1), low, high)
    dtype = objective.net.dtype

    def image(flat: torch.Tensor) -> torch.Tensor:
        return flat.to(dtype).view(shape)

    last = {"x": start}
    done = evaluations = 0
    terms: list[LossTerms] = []

    def fun(flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        nonlocal evaluations
        total, grad, L = objective.value_and_grad(image(flat))
        terms[:] = [L]
        evaluations += 1
        return total.double(), grad.reshape(-1).double()

    def after_iteration(flat: torch.Tensor, f: float) -> None:
        nonlocal done
        last["x"], done = flat, done + 1
        if callback:
            callback(done, image(flat), terms[0].numbers())

    try:
        minimum = minimise(fun, start, (low, high), iterations, after_iteration)
    except KeyboardInterrupt as interrupt:
        x = image(last["x"])
        partial = Synthesis(x, objective.values(x), done, "interrupted", False, evaluations)
        raise SynthesisInterrupted(interrupt_signal(interrupt), partial) from interrupt
    x = image(minimum.x)
    n = minimum.iterations
    return Synthesis(x, objective.values(x), n, minimum.stop,
                     n >= iterations or converged(minimum.stop), evaluations)


def _flat(bound: Bound, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """A bound (a number, or an array of the image's shape or size) as a flat float64 tensor."""
    b = torch.as_tensor(bound, dtype=torch.float64).to(device)
    if b.numel() == np.prod(shape):
        b = b.reshape(shape)
    try:
        return b.broadcast_to(shape).reshape(-1)
    except RuntimeError:
        raise ParameterError(f"bounds must be numbers or arrays of the start image's shape "
                             f"{shape}, not {tuple(b.shape)}") from None
