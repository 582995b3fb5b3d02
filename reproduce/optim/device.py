"""L-BFGS within the pixel bounds, kept on the network's device: the option for CUDA, where
scipy's host-side work per iteration (about 90 ms at 512 px, docs/performance.md) would
outweigh the network's.

This is projected L-BFGS: the two-loop recursion (Nocedal & Wright, algorithm 7.4) over the
variables that no bound holds, then a line search along the path projected into the box for a
step that meets the weak Wolfe conditions with L-BFGS-B's constants. It keeps scipy's memory
(MAXCOR pairs), bounds and iteration count, but not L-BFGS-B's generalised Cauchy point or
Moré–Thuente line search, so its iterates differ from scipy's; tests/test_optimise.py checks
that both reach the same minimum. (torch.optim.LBFGS takes no bounds.)
"""
import torch

from reproduce.optim.minimiser import MAXCOR, Minimum, NonFiniteLoss

ARMIJO = 1e-3           # sufficient decrease: f(x_t) ≤ f(x) + ARMIJO · gᵀ(x_t − x)
CURVATURE = 0.9         # the slope along the path must rise to CURVATURE × its start
MAX_EVALUATIONS = 20    # per line search, as in L-BFGS-B
EXPANSION = 4.0         # growth of a step too short, as in Moré–Thuente
EPS = torch.finfo(torch.float64).eps


def free_variables(x, g, low, high):
    """True where L-BFGS may move a variable: not at a bound that the gradient pushes against."""
    return ~(((x <= low) & (g > 0)) | ((x >= high) & (g < 0)))


def two_loop(q, pairs):
    """H q for the L-BFGS inverse Hessian H of the curvature pairs (s, y, 1/sᵀy), oldest first,
    with H_0 = (sᵀy / yᵀy) I from the newest pair (Nocedal & Wright, algorithm 7.4)."""
    q = q.clone()
    a = []
    for s, y, rho in reversed(pairs):
        a.append(rho * torch.dot(s, q))
        q -= a[-1] * y
    _, y, rho = pairs[-1]
    r = q / (rho * torch.dot(y, y))
    for (s, y, rho), a_i in zip(pairs, reversed(a)):
        r += (a_i - rho * torch.dot(y, r)) * s
    return r


def minimise(fun, x0, bounds, iterations, callback=None):
    """Minimise `fun(x) -> (f, g)` over low ≤ x ≤ high from x0 for at most `iterations`
    iterations; x0, bounds, f and g are float64 tensors on one device.

    `callback(x, f)` runs after every iteration. Returns (x, f, iterations done, stop reason),
    like `reproduce.optim.scipy_lbfgsb.lbfgs`; Ctrl-C propagates, the last iterate being the callback's.
    """
    low, high = bounds
    x = torch.clamp(x0, low, high)
    f, g = _checked(fun, x, 1)
    pairs, n = [], 0
    while n < iterations:
        free = free_variables(x, g, low, high)
        d = -two_loop(g * free, pairs) * free if pairs else -g * free
        slope = torch.dot(g, d)
        if not slope < 0:  # the curvature pairs no longer give a descent direction
            pairs.clear()
            d = -g * free
            slope = torch.dot(g, d)
        if not slope < 0:
            return Minimum(x, float(f), n, "the projected gradient is zero")
        # H_0 = I knows no scale: the first step is 1 long (L-BFGS-B's rule for unbounded
        # problems; its first trial for boxed ones, a corner of the box, is far too long here)
        t = 1.0 if pairs else min(1.0, 1.0 / float(torch.linalg.vector_norm(d)))
        step = wolfe_step(fun, x, f, g, d, t, bounds, n + 1)
        if step is None:
            return Minimum(x, float(f), n, "the line search found no step")
        x_t, f_t, g_t = step
        s, y = x_t - x, g_t - g
        sy = torch.dot(s, y)
        if sy > EPS * torch.dot(y, y):  # keeps H positive definite, as L-BFGS-B does
            pairs = pairs[-(MAXCOR - 1):] + [(s, y, 1.0 / sy)]
        x, f, g, n = x_t, f_t, g_t, n + 1
        if callback:
            callback(x, float(f))
    return Minimum(x, float(f), n, "the iteration limit is reached")


def wolfe_step(fun, x, f, g, d, t, bounds, iteration):
    """(x_t, f_t, g_t) at a step t along the projected path x_t = clamp(x + t d) that meets
    the weak Wolfe conditions, found by bracketing: longer while the slope stays steep, halfway
    back once a step gives too little decrease (Lewis & Overton 2013); None if none is found."""
    low, high = bounds
    slope = torch.dot(g, d)
    shortest, longest = 0.0, float("inf")
    for _ in range(MAX_EVALUATIONS):
        unclamped = x + t * d
        x_t = torch.clamp(unclamped, low, high)
        f_t, g_t = _checked(fun, x_t, iteration)
        if not f_t <= f + ARMIJO * torch.dot(g, x_t - x):
            longest = t
        elif torch.dot(g_t, d * ((unclamped > low) & (unclamped < high))) < CURVATURE * slope:
            shortest = t
        else:
            return x_t, f_t, g_t
        t = (shortest + longest) / 2 if longest < float("inf") else EXPANSION * t
    return None


def _checked(fun, x, iteration):
    f, g = fun(x)
    if not bool(torch.isfinite(f) & torch.isfinite(g).all()):
        raise NonFiniteLoss(float(f), iteration)
    return f, g
