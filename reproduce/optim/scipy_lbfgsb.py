"""Gradient-based image synthesis with scipy's L-BFGS-B, as the authors' code ran it.

`maxcor` 20, `ftol = gtol = 0` (stop by the iteration count alone), box bounds on the pixels.
Only the flat float64 vector crosses between torch and scipy.

scipy's L-BFGS-B is called through `fmin_l_bfgs_b`, the same code as `minimize(method="L-BFGS-B")`
iterate for iterate: `minimize` turns array bounds into a list of n pairs of Python floats and keeps
it for the whole run, 112 bytes a variable (336 a pixel, a third of L-BFGS-B's own memory);
`fmin_l_bfgs_b` takes the n × 2 array (docs/performance.md, "Memory").
"""
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import torch
from scipy.optimize import OptimizeResult, fmin_l_bfgs_b
from threadpoolctl import threadpool_limits

from reproduce.optim.minimiser import MAXCOR, Callback, Fun, Minimum, NonFiniteLoss

Array = npt.NDArray[np.float64]


def lbfgs(fun: Callable[[Array], tuple[float, Array]], x0: Array, bounds: tuple[Array, Array],
          iterations: int, callback: Callable[[Array, float], None] | None = None
          ) -> tuple[Array, float, int, str]:
    """Minimise `fun(x) -> (f, g)` from x0 for at most `iterations` L-BFGS-B iterations.

    `callback(x, f)` runs after every iteration. Returns (x, f, iterations done, stop reason).
    Ctrl-C (KeyboardInterrupt) propagates; the last completed iterate is the callback's.
    """
    done = 0

    def checked(x: Array) -> tuple[float, Array]:
        f, g = fun(x)
        if not (np.isfinite(f) and np.all(np.isfinite(g))):
            raise NonFiniteLoss(f, done + 1)
        return f, g

    def after_iteration(intermediate_result: OptimizeResult) -> None:
        nonlocal done
        done += 1
        if callback:
            callback(intermediate_result.x.copy(), float(intermediate_result.fun))

    # scipy's BLAS threads, spinning after each call, would take the cores from torch's
    with threadpool_limits(limits=1, user_api="blas"):
        x, f, result = fmin_l_bfgs_b(
            checked, np.asarray(x0, dtype=np.float64), bounds=np.stack(bounds, axis=1),
            m=MAXCOR, factr=0.0, pgtol=0.0, maxiter=iterations,
            maxfun=max(15000, 20 * iterations), callback=after_iteration)
    return x, float(f), int(result["nit"]), str(result["task"])


def minimise(fun: Fun, x0: torch.Tensor, bounds: tuple[torch.Tensor, torch.Tensor],
             iterations: int, callback: Callback | None = None) -> Minimum:
    """`lbfgs` on tensors (reproduce.optim.minimiser): x0, bounds, f and g float64 tensors on
    one device; only the flat vector crosses to scipy, on the CPU, in float64."""
    device = x0.device

    def as_tensor(x: Array) -> torch.Tensor:
        return torch.from_numpy(x).to(device)

    def numpy_fun(x: Array) -> tuple[float, Array]:
        f, g = fun(as_tensor(x))
        return float(f), g.cpu().numpy()

    def numpy_callback(x: Array, f: float) -> None:
        if callback:
            callback(as_tensor(x), f)

    low, high = (b.cpu().numpy() for b in bounds)
    x, f, n, reason = lbfgs(numpy_fun, x0.cpu().numpy(), (low, high), iterations, numpy_callback)
    return Minimum(as_tensor(x), f, n, reason)
