"""The paper's equations against an independent NumPy writing, and the gradients of eq. 2 and 6."""
import numpy as np
import pytest
import torch

from reproduce.image import preprocess
from reproduce.method import losses
from reproduce.method.objective import Objective
from reproduce.run.config import TransferConfig


def numpy_losses(F, P, Fs, As, w, alpha, beta):
    """Eqs. 1, 3, 4, 5, 7 with explicit loops over layers and einsum for the Gram matrices."""
    L_content = 0.5 * np.sum((F - P) ** 2)
    E = []
    for F_l, A_l in zip(Fs, As):
        N, M = F_l.shape
        G_l = np.einsum("ik,jk->ij", F_l, F_l)
        E.append(np.sum((G_l - A_l) ** 2) / (4.0 * N**2 * M**2))
    L_style = sum(w_l * E_l for w_l, E_l in zip(w, E))
    return L_content, E, L_style, alpha * L_content + beta * L_style


def test_equations_match_numpy():
    rng = np.random.default_rng(0)
    F, P = rng.random((6, 35)), rng.random((6, 35))
    Fs = [rng.random((4, 35)), rng.random((7, 9))]
    As = [rng.random((4, 4)) * 9, rng.random((7, 7)) * 3]
    w, alpha, beta = [0.25, 0.75], 1e-3, 2.0
    expected_content, expected_E, expected_style, expected_total = numpy_losses(
        F, P, Fs, As, w, alpha, beta)
    t = torch.from_numpy
    L_content = losses.content_loss(t(F), t(P))
    E = {f"l{i}": losses.style_layer_loss(losses.gram(t(F_l)), t(A_l), *F_l.shape)
         for i, (F_l, A_l) in enumerate(zip(Fs, As))}
    L_style = losses.style_loss(E, {"l0": w[0], "l1": w[1]})
    total = losses.total_loss(L_content, L_style, alpha, beta)
    assert float(L_content) == pytest.approx(expected_content, rel=1e-12)
    assert [float(v) for v in E.values()] == pytest.approx(expected_E, rel=1e-12)
    assert float(L_style) == pytest.approx(expected_style, rel=1e-12)
    assert float(total) == pytest.approx(expected_total, rel=1e-12)


def images(shape=(20, 28), count=3, seed=0):
    rng = np.random.default_rng(seed)
    return [preprocess(rng.random((*shape, 3)).astype(np.float32) * 255).double()
            for _ in range(count)]


def pre_relu_gradient(net, objective, x, layer):
    """Autograd's ∂L/∂(conv output before the ReLU) at `layer`, and the rectified F there."""
    captured = {}
    hook = getattr(net.module, layer).register_forward_hook(
        lambda module, inputs, output: captured.update(Z=output) or output.retain_grad())
    try:
        objective.losses(x.requires_grad_(True)).total.backward()
    finally:
        hook.remove()
    Z = captured["Z"]
    return Z.grad[0].reshape(Z.shape[1], -1), torch.relu(Z)[0].reshape(Z.shape[1], -1).detach()


def test_content_gradient_is_eq2(net64):
    content, _, x = images()
    objective = Objective(net64, content, [], TransferConfig(content="c", alpha=1.0, beta=0.0))
    grad, F = pre_relu_gradient(net64, objective, x, "conv4_2")
    P = objective.P["conv4_2"]
    eq2 = torch.where(F > 0, F - P, torch.zeros_like(F))
    assert (F == 0).any() and (F > 0).any()  # the mask matters in this case
    torch.testing.assert_close(grad, eq2, rtol=1e-10, atol=1e-12)


def test_style_gradient_is_eq6(net64):
    _, style, x = images()
    config = TransferConfig(styles=("s",), style_layers=("conv3_1",), alpha=0.0, beta=1.0)
    objective = Objective(net64, None, [style], config)
    grad, F = pre_relu_gradient(net64, objective, x, "conv3_1")
    N, M = F.shape
    G, A = F @ F.T, objective.E_l["conv3_1"].A
    eq6 = torch.where(F > 0, ((F.T @ (G - A)).T) / (N**2 * M**2), torch.zeros_like(F))
    torch.testing.assert_close(grad, eq6, rtol=1e-10, atol=1e-20)


def test_objective_gradient_matches_finite_differences(net64):
    content, style, x = images()
    config = TransferConfig(content="c", styles=("s",), ratio=1e-3)
    objective = Objective(net64, content, [style], config)
    _, grad, _ = objective.value_and_grad(x)
    rng = np.random.default_rng(1)
    for _ in range(3):
        v = torch.from_numpy(rng.standard_normal(x.shape))
        eps = 1e-4
        with torch.no_grad():
            f_plus = objective.losses(x + eps * v).total
            f_minus = objective.losses(x - eps * v).total
        numeric = float(f_plus - f_minus) / (2 * eps)
        assert float((grad * v).sum()) == pytest.approx(numeric, rel=1e-6)


def test_style_targets_blend_gram_matrices(net64):
    _, s1, s2 = images()
    config = TransferConfig(styles=("a", "b"), style_blend=(1.0, 3.0))
    blended = Objective(net64, None, [s1, s2], config)
    singles = [Objective(net64, None, [s], TransferConfig(styles=("a",))) for s in (s1, s2)]
    for layer in config.style_layers:
        expected = 0.25 * singles[0].E_l[layer].A + 0.75 * singles[1].E_l[layer].A
        torch.testing.assert_close(blended.E_l[layer].A, expected)
