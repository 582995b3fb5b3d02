"""The paper's losses, one function per equation (Gatys, Ecker & Bethge 2015).

A layer l has N_l filters and feature maps of M_l = height × width positions; its features
F^l ∈ R^{N_l×M_l} are the rectified responses (Caffe's in-place ReLU blob), so autograd through
the ReLU gives exactly the masked gradients of eq. 2 and eq. 6.
"""
import functools
import operator
from typing import Any

import torch


def feature_matrix(blob: torch.Tensor) -> torch.Tensor:
    """F^l: a 1×N_l×H×W blob as the N_l × M_l matrix of the paper."""
    _, N, H, W = blob.shape
    return blob.reshape(N, H * W)


def content_loss(F: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Eq. 1: L_content = ½ Σ_ij (F_ij − P_ij)²."""
    return 0.5 * (F - P).pow(2).sum()


class _Gram(torch.autograd.Function):
    """F Fᵀ whose backward takes one matrix product, ∂L/∂F = (D + Dᵀ) F for D = ∂L/∂G, where
    autograd's would take two (docs/performance.md)."""

    @staticmethod
    def forward(ctx: Any, F: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(F)
        G: torch.Tensor = F @ F.T
        return G

    @staticmethod
    def backward(ctx: Any, D: torch.Tensor) -> torch.Tensor:
        (F,) = ctx.saved_tensors
        S = D + D.T
        # written in F's own memory layout, so the blob's gradient needs no transposing copy
        grad: torch.Tensor = (F.T @ S).T if F.stride(0) == 1 else S @ F
        return grad


def gram(F: torch.Tensor) -> torch.Tensor:
    """Eq. 3: G_ij = Σ_k F_ik F_jk."""
    G: torch.Tensor = _Gram.apply(F)
    return G


def style_layer_loss(G: torch.Tensor, A: torch.Tensor | float, N: int, M: int) -> torch.Tensor:
    """Eq. 4: E_l = 1 / (4 N_l² M_l²) Σ_ij (G_ij − A_ij)²."""
    return (G - A).pow(2).sum() / (4.0 * N**2 * M**2)


def style_loss(E: dict[str, torch.Tensor], w: dict[str, float]) -> torch.Tensor:
    """Eq. 5: L_style = Σ_l w_l E_l, over the layers in `E` ({layer: E_l}) with weights `w`."""
    return functools.reduce(operator.add, (w[layer] * E_l for layer, E_l in E.items()))


def total_loss(L_content: torch.Tensor, L_style: torch.Tensor, alpha: float,
               beta: float) -> torch.Tensor:
    """Eq. 7: L_total = α L_content + β L_style."""
    return alpha * L_content + beta * L_style


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Total variation as neural-style defines it (beyond the 2015 paper, where it is absent): for
    a 1×C×H×W image x (the preprocessed image; differences do not see the mean),

        TV(x) = ½ Σ_c Σ_{i<H−1} Σ_{j<W−1} [(x_{c,i,j+1} − x_{c,i,j})² + (x_{c,i+1,j} − x_{c,i,j})²],

    squared differences to the right and lower neighbour, no square root, taken over the
    (H−1)×(W−1) pixels that have both (so the pairs along the last row and along the last
    column are not counted). neural-style's TVLoss writes only a gradient; TV is the function it is the
    gradient of at strength 1, hence the ½. A weight λ adds λ·TV(x) to eq. 7 (neural-style's
    -tv_weight; its other losses are scaled differently, so its values do not carry over)."""
    right = x[..., :-1, 1:] - x[..., :-1, :-1]
    down = x[..., 1:, :-1] - x[..., :-1, :-1]
    return 0.5 * (right.pow(2).sum() + down.pow(2).sum())
