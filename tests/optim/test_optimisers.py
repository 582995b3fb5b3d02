"""The two optimisers: scipy's L-BFGS-B (the authors') and the L-BFGS kept on the device. Both
reach known minima within bounds, stop cleanly, and on the paper's problem the device one ends
as low as scipy's. Its parts are checked against their textbook definitions."""
import numpy as np
import pytest
import torch
from scipy.optimize import lsq_linear, rosen, rosen_der

from reproduce.optim import OPTIMISERS
from reproduce.optim.device import ARMIJO, CURVATURE, free_variables, two_loop, wolfe_step
from reproduce.optim.device import minimise as lbfgs_on_device
from reproduce.optim.minimiser import MAXCOR, NonFiniteLoss
from reproduce.optim.scipy_lbfgsb import lbfgs
from reproduce.run.config import TransferConfig
from reproduce.run.transfer import run_transfer


def minimise(optimiser, fun, x0, bounds, iterations, callback=None):
    """Either optimiser on a NumPy objective (the device one on float64 CPU tensors)."""
    if optimiser == "scipy":
        return lbfgs(fun, x0, bounds, iterations, callback)

    def tensor_fun(x):
        f, g = fun(x.numpy())
        return torch.tensor(f, dtype=torch.float64), torch.from_numpy(g)

    x, f, n, reason = lbfgs_on_device(tensor_fun, torch.from_numpy(x0),
                                      [torch.from_numpy(b) for b in bounds], iterations,
                                      callback and (lambda x, f: callback(x.numpy(), f)))
    return x.numpy(), f, n, reason


@pytest.mark.parametrize("optimiser", OPTIMISERS)
def test_bounded_least_squares_reaches_the_constrained_minimum(optimiser):
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((80, 60)), 3 * rng.standard_normal(80)
    bounds = (np.full(60, -0.5), np.full(60, 0.7))
    expected = lsq_linear(A, b, bounds, method="bvls", tol=1e-14).x
    assert np.sum((expected == bounds[0]) | (expected == bounds[1])) >= 10  # bounds matter

    x, f, n, reason = minimise(optimiser, lambda x: (0.5 * np.sum((A @ x - b) ** 2),
                                                     A.T @ (A @ x - b)), np.zeros(60), bounds, 300)
    np.testing.assert_allclose(x, expected, atol=1e-6)
    assert np.all(x >= bounds[0]) and np.all(x <= bounds[1])


@pytest.mark.parametrize("optimiser", OPTIMISERS)
def test_rosenbrock_reaches_its_minimum(optimiser):
    calls = []
    x, f, n, reason = minimise(optimiser, lambda x: (rosen(x), rosen_der(x)), np.full(6, -1.5),
                               (np.full(6, -5.0), np.full(6, 5.0)), 500,
                               lambda x, f: calls.append(f))
    np.testing.assert_allclose(x, np.ones(6), atol=1e-5)
    assert len(calls) == n and calls[-1] == f


@pytest.mark.parametrize("optimiser", OPTIMISERS)
def test_interrupt_propagates_after_the_last_completed_iterate(optimiser):
    calls, seen = [], []

    def fun(x):
        calls.append(1)
        if len(calls) == 25:
            raise KeyboardInterrupt
        return rosen(x), rosen_der(x)

    with pytest.raises(KeyboardInterrupt):
        minimise(optimiser, fun, np.full(6, -1.5), (np.full(6, -5.0), np.full(6, 5.0)), 500,
                 lambda x, f: seen.append((np.array(x, dtype=np.float64), f)))
    assert 1 <= len(seen) < 25
    x, f = seen[-1]
    assert f == pytest.approx(rosen(x))


@pytest.mark.parametrize("optimiser", OPTIMISERS)
def test_non_finite_loss_stops_clearly(optimiser):
    with pytest.raises(NonFiniteLoss, match="non-finite"):
        minimise(optimiser, lambda x: (float("nan"), x), np.zeros(3),
                 (np.full(3, -1.0), np.ones(3)), 10)


def test_two_loop_is_the_bfgs_inverse_hessian():
    """H q against H built by the BFGS update written out:
    H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ from H_0 = (sᵀy / yᵀy) I of the newest pair."""
    rng = np.random.default_rng(1)
    n, pairs = 7, []
    for _ in range(4):
        s = rng.standard_normal(n)
        y = s + 0.3 * rng.standard_normal(n)  # sᵀy > 0
        pairs.append((s, y, 1.0 / (s @ y)))
    s, y, _ = pairs[-1]
    H = (s @ y) / (y @ y) * np.eye(n)
    for s, y, rho in pairs:
        V = np.eye(n) - rho * np.outer(y, s)
        H = V.T @ H @ V + rho * np.outer(s, s)
    q = rng.standard_normal(n)
    tensors = [(torch.from_numpy(s), torch.from_numpy(y), torch.tensor(rho)) for s, y, rho in pairs]
    np.testing.assert_allclose(two_loop(torch.from_numpy(q), tensors).numpy(), H @ q, rtol=1e-12)


def test_free_variables_are_those_no_bound_holds():
    x = torch.tensor([0.0, 0.0, 1.0, 1.0, 0.5])
    g = torch.tensor([1.0, -1.0, -1.0, 1.0, 1.0])
    free = free_variables(x, g, torch.zeros(5), torch.ones(5))
    assert free.tolist() == [False, True, False, True, True]


@pytest.mark.parametrize("t", [1e-4, 1.0])
def test_wolfe_step_meets_both_conditions(t):
    """On f = (xᵀx − 4)², concave at the start near 0: a short first step must grow, a long
    one shrink; the step taken meets sufficient decrease and the curvature condition."""
    def fun(x):
        r = torch.dot(x, x) - 4
        return r**2, 4 * r * x

    x = torch.full((3,), 0.1, dtype=torch.float64)
    f, g = fun(x)
    low, high = torch.full((3,), -10.0, dtype=torch.float64), torch.full((3,), 10.0,
                                                                           dtype=torch.float64)
    x_t, f_t, g_t = wolfe_step(fun, x, f, g, -g, t, (low, high), 1)
    assert f_t <= f + ARMIJO * torch.dot(g, x_t - x)
    assert torch.dot(g_t, -g) >= CURVATURE * torch.dot(g, -g)


def test_the_memory_holds_maxcor_pairs(monkeypatch):
    seen = []
    monkeypatch.setattr("reproduce.optim.device.two_loop",
                        lambda q, pairs: seen.append(len(pairs)) or q)
    minimise("device", lambda x: (rosen(x), rosen_der(x)), np.full(6, -1.5),
             (np.full(6, -5.0), np.full(6, 5.0)), MAXCOR + 10)
    assert max(seen) == MAXCOR


def test_on_the_papers_problem_the_device_optimiser_ends_as_low_as_scipy(small_vgg, tmp_path,
                                                                        pictures):
    """Same network, images, start and iteration count: the final losses agree within a factor
    of 1.5, though the iterates differ (scipy's Cauchy point and line search are not copied)."""
    final = {}
    for optimiser in OPTIMISERS:
        config = TransferConfig(content=str(pictures["photo"]), styles=(str(pictures["painting"]),),
                                model=str(small_vgg), output=str(tmp_path / f"{optimiser}.png"),
                                size=48, iterations=60, optimiser=optimiser)
        summary = run_transfer(config, progress=False)
        assert summary.iterations == 60
        final[optimiser] = summary.losses.total
    assert final["device"] < 1.5 * final["scipy"] and final["scipy"] < 1.5 * final["device"]


def test_scipy_runs_as_the_authors_code_did(monkeypatch):
    """The authors' L-BFGS-B settings: maxcor 20 curvature pairs, ftol = gtol = 0 (the run
    stops by its iteration count alone), maxiter the iterations asked for."""
    import reproduce.optim.scipy_lbfgsb
    seen = {}

    def minimize(*args, **kwargs):
        seen.update(kwargs)
        return scipy_minimize(*args, **kwargs)

    from scipy.optimize import minimize as scipy_minimize
    monkeypatch.setattr(reproduce.optim.scipy_lbfgsb, "minimize", minimize)
    lbfgs(lambda x: (rosen(x), rosen_der(x)), np.zeros(3), (np.full(3, -2.0), np.full(3, 2.0)), 7)
    assert seen["method"] == "L-BFGS-B"
    assert seen["options"]["maxcor"] == 20 and seen["options"]["maxiter"] == 7
    assert seen["options"]["ftol"] == 0 and seen["options"]["gtol"] == 0


def test_the_device_optimiser_keeps_twenty_pairs():
    """The same memory as the authors' L-BFGS-B."""
    assert MAXCOR == 20
