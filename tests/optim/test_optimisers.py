"""The two optimisers by name: scipy's L-BFGS-B (the authors') and the same algorithm kept on the
device (reproduce/optim/lbfgsb.py; checked iterate for iterate against scipy in
tests/optim/test_lbfgsb*.py). Both reach known minima within bounds, stop cleanly, and run the
paper's problem alike."""
import numpy as np
import pytest
import torch
from scipy.optimize import lsq_linear, rosen, rosen_der

from reproduce.optim import OPTIMISERS
from reproduce.optim.lbfgsb import minimise as lbfgs_on_device
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


def test_on_the_papers_problem_both_are_the_same_algorithm(small_vgg, tmp_path, pictures):
    """run_transfer with each optimiser, float32 as the figures run: the same images and the
    same losses to float32's rounding, which L-BFGS-B amplifies iteration by iteration (the
    float64 equality is tests/optim/test_lbfgsb_paper.py's)."""
    final = {}
    for optimiser in OPTIMISERS:
        config = TransferConfig(content=str(pictures["photo"]), styles=(str(pictures["painting"]),),
                                model=str(small_vgg), output=str(tmp_path / f"{optimiser}.png"),
                                size=48, iterations=10, optimiser=optimiser)
        summary = run_transfer(config, progress=False)
        assert summary.iterations == 10 and summary.completed
        final[optimiser] = summary.losses.total
    assert final["device"] == pytest.approx(final["scipy"], rel=1e-3)


def test_scipy_runs_as_the_authors_code_did(monkeypatch):
    """The authors' L-BFGS-B settings: maxcor 20 curvature pairs, ftol = gtol = 0 (factr = pgtol
    = 0: the run stops by its iteration count alone), maxiter the iterations asked for."""
    import reproduce.optim.scipy_lbfgsb
    seen = {}

    def fmin_l_bfgs_b(*args, **kwargs):
        seen.update(kwargs)
        return scipy_fmin_l_bfgs_b(*args, **kwargs)

    from scipy.optimize import fmin_l_bfgs_b as scipy_fmin_l_bfgs_b
    monkeypatch.setattr(reproduce.optim.scipy_lbfgsb, "fmin_l_bfgs_b", fmin_l_bfgs_b)
    lbfgs(lambda x: (rosen(x), rosen_der(x)), np.zeros(3), (np.full(3, -2.0), np.full(3, 2.0)), 7)
    assert seen["m"] == 20 and seen["maxiter"] == 7
    assert seen["factr"] == 0 and seen["pgtol"] == 0


def test_scipy_is_minimize_iterate_for_iterate():
    """lbfgs calls scipy's L-BFGS-B through fmin_l_bfgs_b, which takes the bounds as an array
    (minimize keeps them as a list of Python floats, 112 bytes a variable): the same iterates,
    f and stop as minimize(method="L-BFGS-B") with the authors' options, bit for bit, on a
    problem where bounds are hit (its products in one BLAS thread, as lbfgs runs them)."""
    from scipy.optimize import Bounds, minimize
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(1)
    A, b = rng.standard_normal((80, 60)), 3 * rng.standard_normal(80)
    bounds = (np.full(60, -0.5), np.full(60, 0.7))

    def fun(x):
        return 0.5 * np.sum((A @ x - b) ** 2), A.T @ (A @ x - b)

    ours, theirs = [], []
    x, f, n, reason = lbfgs(fun, np.zeros(60), bounds, 40, lambda x, f: ours.append((x, f)))
    with threadpool_limits(limits=1, user_api="blas"):
        result = minimize(fun, np.zeros(60), jac=True, method="L-BFGS-B", bounds=Bounds(*bounds),
                          callback=lambda intermediate_result: theirs.append(
                              (intermediate_result.x.copy(), float(intermediate_result.fun))),
                          options=dict(maxiter=40, maxcor=MAXCOR, ftol=0.0, gtol=0.0,
                                       maxfun=15000))
    assert len(ours) == len(theirs) == n == result.nit > 20
    assert all(np.array_equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(ours, theirs))
    assert np.array_equal(x, result.x) and f == result.fun and reason == result.message
    assert np.sum((x == bounds[0]) | (x == bounds[1])) >= 10


def test_both_keep_the_authors_twenty_pairs():
    """The same memory as the authors' L-BFGS-B: maxcor 20 pairs, and ours holds no more."""
    from reproduce.optim.lbfgsb import iterate, start
    assert MAXCOR == 20
    x0 = torch.full((6,), -1.5, dtype=torch.float64)
    bounds = (torch.full((6,), -5.0, dtype=torch.float64), torch.full((6,), 5.0, dtype=torch.float64))

    def fun(x):
        return torch.tensor(rosen(x.numpy())), torch.from_numpy(rosen_der(x.numpy()))

    state, sizes = start(fun, x0, bounds), []
    for _ in range(MAXCOR + 10):
        state = iterate(fun, state, bounds)
        sizes.append(state.memory.col)
    assert max(sizes) == MAXCOR
