"""Total variation (neural-style's, beyond the 2015 paper) against NumPy, its gradient against
finite differences and against neural-style's TVLoss gradient written out."""
import numpy as np
import pytest
import torch

from reproduce.method.losses import total_variation


def numpy_tv(x):
    """½ Σ over channels and the (H−1)×(W−1) pixels with a right and a lower neighbour, by loops."""
    _, C, H, W = x.shape
    total = 0.0
    for c in range(C):
        for i in range(H - 1):
            for j in range(W - 1):
                total += (x[0, c, i, j + 1] - x[0, c, i, j]) ** 2 + (x[0, c, i + 1, j] - x[0, c, i, j]) ** 2
    return 0.5 * total


def neural_style_gradient(x):
    """neural-style's TVLoss.updateGradInput at strength 1, in NumPy (0-based slices)."""
    g = np.zeros_like(x)
    x_diff = x[:, :, :-1, :-1] - x[:, :, :-1, 1:]
    y_diff = x[:, :, :-1, :-1] - x[:, :, 1:, :-1]
    g[:, :, :-1, :-1] += x_diff + y_diff
    g[:, :, :-1, 1:] -= x_diff
    g[:, :, 1:, :-1] -= y_diff
    return g


def test_value_matches_numpy():
    x = np.random.default_rng(0).normal(0, 50, (1, 3, 6, 9))
    assert float(total_variation(torch.from_numpy(x))) == pytest.approx(numpy_tv(x), rel=1e-12)


def test_known_values():
    ramp = torch.arange(5.0).expand(1, 3, 4, 5)  # x_{c,i,j} = j: 3 channels × 3 × 4 unit steps
    assert float(total_variation(ramp)) == 18.0
    assert float(total_variation(ramp.transpose(2, 3))) == 18.0  # the same steps downwards
    assert float(total_variation(torch.full((1, 3, 4, 5), 7.0))) == 0.0
    assert float(total_variation(torch.ones(1, 3, 1, 5))) == 0.0  # one row: no pixel has both


def test_gradient_matches_finite_differences():
    x = torch.from_numpy(np.random.default_rng(1).normal(0, 1, (1, 3, 5, 6))).requires_grad_(True)
    assert torch.autograd.gradcheck(total_variation, (x,), eps=1e-6, atol=1e-7, rtol=1e-6)


def test_gradient_is_neural_styles():
    x = np.random.default_rng(2).normal(0, 50, (1, 3, 7, 5))
    xt = torch.from_numpy(x).requires_grad_(True)
    total_variation(xt).backward()
    np.testing.assert_allclose(xt.grad.numpy(), neural_style_gradient(x), rtol=1e-12, atol=1e-10)
