"""Spatial control (beyond the 2015 paper): guided Gram matrices, Gatys, Ecker, Bethge, Hertzmann
& Shechtman, "Controlling Perceptual Factors in Neural Style Transfer" (CVPR 2017, section 4),
as the authors' code (leongatys/NeuralImageSynthesis, SpatialControl.ipynb) computes them.

A region r is a mask of the content image and a mask of the style image it takes its style from
(H×W, 0–1). Each mask is carried to every style layer l (`carry`): `simple` resizes it to the
feature map, `inside` keeps only the positions whose receptive field lies wholly inside the
region; either may then be grown or eroded by k positions. Each carried mask T is divided by
√mean(T²) over its positions (`normalised`), so that the guided Gram matrix

    G_r = (F ∘ T_r)(F ∘ T_r)ᵀ / M_l                                   (the image, content masks)
    A_r = (S ∘ S_r)(S ∘ S_r)ᵀ / M_l^S                                 (the style, its own masks)

is the T²-weighted mean of the outer products F_p F_pᵀ over the region's positions: for a binary
mask, their mean over the region, whatever its size. Per layer,

    E_l = 1/R Σ_r 1/(4 N_l²) Σ_ij (G_r − A_r)²_ij,

regions averaged with equal weights as the authors do; L_style = Σ_l w_l E_l (eq. 5). One region
whose masks are all ones is the paper's E_l (eq. 4) exactly when the painting has the image's
size (--style-size content): T = 1, and A_r M_l / M_l^S = S Sᵀ. The authors' code takes a mean
squared error over the N_l² entries with weights 10³/N_l² (a constant factor 4·10³/N_l² of
E_l here); this module keeps eq. 4's normalisation, so that α/β means what it means in the paper.
"""
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.ndimage
import torch
import torch.nn.functional as nnf
from torch import nn

from reproduce.errors import ReproduceError
from reproduce.method.losses import gram, style_layer_loss
from reproduce.network.load import Network

THRESHOLD = 0.5  # a soft mask's inside, where it is taken as binary (inside mode, growing)
SNAP = 1e-9      # a resized mask's distance from 0 or 1 that is rounding, not a value
ELEMENTWISE = (nn.ReLU, nn.Dropout, nn.Identity)  # layers that move no position


@dataclass
class RegionMasks:
    """A region as the objective takes it: its name, the content image's mask (H×W, 0–1, at the
    content's size), the index of its style image, and that image's mask (at its size; all ones
    where the region takes the whole image)."""
    name: str
    mask: np.ndarray
    style: int
    style_mask: np.ndarray


def outside_reach(net: Network, outside: torch.Tensor, layers: Sequence[str]
                  ) -> dict[str, torch.Tensor]:
    """For an indicator of the pixels outside a region (1×1×H×W, 0 or 1), the positions of each
    layer whose receptive field reaches outside: carried through the network's own layers, a
    convolution or pooling taking the maximum over its window (its padding counts as inside, as
    the authors' probe counts Caffe's zero padding), a ReLU leaving it as it is."""
    module = net.module_for(tuple(layers))
    values: dict[object, torch.Tensor] = {}
    outputs: list[torch.Tensor] = []
    for node in module.graph.nodes:
        if node.op == "placeholder":
            values[node] = outside
        elif node.op == "call_module":
            layer = module.get_submodule(str(node.target))
            x = values[node.args[0]]
            if isinstance(layer, nn.Conv2d) and not isinstance(layer.padding, str):
                values[node] = nnf.max_pool2d(x, layer.kernel_size, layer.stride, layer.padding,
                                              layer.dilation)
            elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
                values[node] = nnf.max_pool2d(x, layer.kernel_size, layer.stride, layer.padding,
                                              ceil_mode=layer.ceil_mode)
            elif isinstance(layer, ELEMENTWISE):
                values[node] = x
            else:
                raise ReproduceError(f"--guide-mode inside: no receptive field for the layer "
                                     f"{node.target} ({type(layer).__name__})")
        elif node.op == "output":
            outputs = [values[arg] for arg in node.args[0]]
        else:
            raise ReproduceError(f"--guide-mode inside: cannot follow {node.op} {node.target}")
    return {l: o[0, 0] for l, o in zip(layers, outputs)}


def simple(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A mask resized to a feature map's shape as the authors resize it: a cubic spline
    (scipy.ndimage.zoom, order 3), corners on corners, no smoothing."""
    zoom = (shape[0] / mask.shape[0], shape[1] / mask.shape[1])
    resized = scipy.ndimage.zoom(mask, zoom, order=3, mode="nearest", grid_mode=False)
    # the spline's rounding leaves a constant 1 at 1 ± 1e-16: snap what is within 1e-9 of 0 or 1
    # back to it, so that a mask of ones stays ones (and is then the paper's E_l exactly)
    whole = np.round(resized)
    snapped: np.ndarray = np.where(np.abs(resized - whole) < SNAP, whole, resized)
    return snapped


def grown(T: torch.Tensor, k: int) -> torch.Tensor:
    """A mask taken at THRESHOLD, then grown (k > 0: a (2k+1)² maximum) or eroded (k < 0: the
    same minimum) by |k| positions; positions beyond the map count as neither (it does not
    erode at the border)."""
    binary = (T >= THRESHOLD).to(T.dtype)
    if k == 0:
        return binary
    window = 2 * abs(k) + 1

    def dilate(x: torch.Tensor) -> torch.Tensor:
        return nnf.max_pool2d(x[None, None], window, 1, abs(k))[0, 0]

    return dilate(binary) if k > 0 else 1 - dilate(1 - binary)


def carry(net: Network, mask: np.ndarray, layers: Sequence[str], mode: str, grow: int
          ) -> dict[str, torch.Tensor]:
    """A pixel mask (H×W, 0–1) at each layer: `simple` (soft, resized) or `inside` (binary, the
    positions whose receptive field lies wholly inside), grown or eroded by `grow` positions
    (which takes it at THRESHOLD first). Float64 on the network's device."""
    binary = torch.from_numpy((mask >= THRESHOLD).astype(np.float64))
    reach = outside_reach(net, (1 - binary)[None, None].to(net.device), layers)
    carried = {}
    for l in layers:
        if mode == "inside":
            T = 1 - reach[l]
        else:
            h, w = reach[l].shape
            T = torch.from_numpy(simple(mask.astype(np.float64), (h, w)))
            T = T.to(net.device)
        carried[l] = grown(T, grow) if grow else T
    return carried


def normalised(T: torch.Tensor, region: str, layer: str) -> torch.Tensor:
    """T / √mean(T²) over all positions: a region's guided Gram matrix is then the T²-weighted
    mean over its positions. One line if the region has no position at this layer."""
    size = float(T.pow(2).mean())
    if not size > 0:
        raise ReproduceError(f"region {region} is empty at {layer}: its mask covers no position "
                             f"there (use a larger mask, --guide-mode simple, or grow it with "
                             f"--guide-grow)")
    unit: torch.Tensor = T / size ** 0.5
    return unit


class GuidedGram:
    """E_l of spatial control for one layer: 1/R Σ_r 1/(4N²) Σ(G_r − A_r)², with each region's
    normalised content mask T_r (M_l positions) and its target A_r, scaled by M_l / M_l^S so that
    eq. 4's style_layer_loss (which divides by M_l²) computes it."""

    def __init__(self, T: Sequence[torch.Tensor], A: Sequence[torch.Tensor]) -> None:
        self.T, self.A = list(T), list(A)

    def __call__(self, F: torch.Tensor) -> torch.Tensor:
        N, M = F.shape
        E = [style_layer_loss(gram(F * T_r), A_r, N, M) for T_r, A_r in zip(self.T, self.A)]
        total = E[0]
        for E_r in E[1:]:
            total = total + E_r
        return total / len(E)


def guided_target(S: torch.Tensor, S_r: torch.Tensor, M: int) -> torch.Tensor:
    """A region's target A_r = (S ∘ S_r)(S ∘ S_r)ᵀ / M^S, times M (the image's positions): on
    the scale of eq. 4's G. With S_r = 1 and M^S = M it is S Sᵀ itself."""
    A = gram(S * S_r.reshape(1, -1))
    return A if S.shape[1] == M else A * (M / S.shape[1])


def guided_style_losses(net: Network, regions: Sequence[RegionMasks],
                        S: Sequence[dict[str, torch.Tensor]], layers: Sequence[str], mode: str,
                        grow: int) -> dict[str, GuidedGram]:
    """Each style layer's guided E_l: each region's content mask carried to the layers, and its
    target from its style image's features S[style] (N_l × M_l^S) within that image's own mask,
    carried the same way."""
    T: dict[str, list[torch.Tensor]] = {l: [] for l in layers}
    A: dict[str, list[torch.Tensor]] = {l: [] for l in layers}
    for region in regions:
        content = carry(net, region.mask, layers, mode, grow)
        style = carry(net, region.style_mask, layers, mode, grow)
        for l in layers:
            S_l = S[region.style][l]
            T[l].append(normalised(content[l], region.name, l).reshape(1, -1).to(S_l.dtype))
            S_r = normalised(style[l], f"{region.name} (its style image's mask)", l).to(S_l.dtype)
            A[l].append(guided_target(S_l, S_r, content[l].numel()))
    return {l: GuidedGram(T[l], A[l]) for l in layers}
