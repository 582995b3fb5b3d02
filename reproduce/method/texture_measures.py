"""The numbers a study figure prints under a synthesised texture: how far the result's features F^l
are from the source texture's S^l at the style layers (conv1_1 … conv5_1, w_l = 1/5), by four
measures that do not all favour one loss (TextureMeasures).

Inputs are {layer: F} and {layer: S} dicts of N_l × M_l feature matrices (losses.feature_matrix);
M_l of the two may differ. Everything is computed in float64, so that the numbers do not depend on
the dtype the run used.
"""
import math
from dataclasses import dataclass

import torch

from reproduce.method.losses import gram
from reproduce.method.style_losses import (
    Gram,
    SlicedWasserstein,
    channel_deviation,
    channel_mean,
    unit_directions,
)
from reproduce.run.config import STYLE_LAYERS

Features = dict[str, torch.Tensor]  # {layer: N_l × M_l feature matrix}

MEASURE_DIRECTIONS = 512  # held-out directions per layer for the sliced Wasserstein distance
# their seed, a constant of its own (the paper's arXiv date): a run's sliced-wasserstein loss draws
# its directions from the run's seed, so the measure's are held out unless a run uses this one
MEASURE_SEED = 20150826
CHUNK = 64  # directions projected at a time: memory of 64 × M_l numbers, not 512 × M_l


@dataclass(frozen=True)
class TextureMeasures:
    """The four measures, as floats (0 for identical features).

    style_loss: the paper's L_style = Σ_l w_l E_l (eq. 5 with eq. 4, A = S Sᵀ, M_l the result's).
    vgg_loss: Ustyuzhaninov et al.'s VGG-loss (ICLR 2017), Σ_l w_l mean_ij (G_ij − A_ij)² /
        Σ_l' mean_ij A_ij², with Gram matrices normalised by their number of positions,
        G = F Fᵀ / M_F and A = S Sᵀ / M_S (vgg_loss).
    sliced_wasserstein: Σ_l w_l SW_l, SW_l = √(1/K Σ_v W₂²(vᵀF, vᵀS)) over K = 512 held-out unit
        directions v per layer: a distance in the layer's feature units (sliced_wasserstein).
    mean_error, std_error: Σ_l w_l ‖μ_F − μ_S‖₁ / ‖μ_S‖₁ and the same for σ (population standard
        deviation), the channels' means and deviations over positions: the mean absolute error of
        a channel's statistic relative to the source's mean size of that statistic (0.1: off by
        10 % on average), comparable across layers whose activations differ in scale."""

    style_loss: float
    vgg_loss: float
    sliced_wasserstein: float
    mean_error: float
    std_error: float


def texture_measures(F: Features, S: Features, layers: tuple[str, ...] = STYLE_LAYERS,
                     seed: int = MEASURE_SEED) -> TextureMeasures:
    """The measures of the result's features F against the source's S ({layer: N_l × M_l}) at
    `layers`, each weighted w_l = 1/len(layers)."""
    F = {l: F[l].detach().double() for l in layers}
    S = {l: S[l].detach().double() for l in layers}
    w = 1.0 / len(layers)
    return TextureMeasures(
        style_loss=sum(w * float(Gram(S[l])(F[l])) for l in layers),
        vgg_loss=vgg_loss(F, S, {l: w for l in layers}),
        sliced_wasserstein=sum(w * sliced_wasserstein(F[l], S[l], seed) for l in layers),
        mean_error=sum(w * relative_error(channel_mean(F[l]), channel_mean(S[l])) for l in layers),
        std_error=sum(w * relative_error(channel_deviation(F[l]), channel_deviation(S[l]))
                      for l in layers))


def vgg_loss(F: Features, S: Features, w: dict[str, float]) -> float:
    """Σ_l w_l mean_ij (G_ij − A_ij)² / Σ_l' mean_ij A_ij², G = F Fᵀ/M_F, A = S Sᵀ/M_S, over the
    layers of w: a relative squared error of the Gram matrices normalised by their number of
    positions (per-position averages, so that images of different sizes compare)."""
    error = sum(w_l * (gram(F[l]) / F[l].shape[1] - gram(S[l]) / S[l].shape[1]).pow(2).mean()
                for l, w_l in w.items())
    size = sum((gram(S[l]) / S[l].shape[1]).pow(2).mean() for l in w)
    return float(error / size)


def sliced_wasserstein(F: torch.Tensor, S: torch.Tensor, seed: int = MEASURE_SEED,
                       count: int = MEASURE_DIRECTIONS) -> float:
    """SW = √(1/K Σ_v W₂²(vᵀF, vᵀS)) over K = `count` unit directions v drawn from `seed`, W₂² the
    sliced-wasserstein loss's mean squared difference of the sorted projections (the source's
    interpolated at the result's quantile levels when M differs), projected CHUNK at a time."""
    V = unit_directions(count, F.shape[0], seed)
    total = sum(len(chunk) * float(SlicedWasserstein(S, directions=chunk)(F))
                for chunk in torch.split(V, CHUNK))
    return math.sqrt(total / count)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖₁ / ‖b‖₁, 0 when a = b (also where b = 0), infinite when only b is 0."""
    error, size = float((a - b).abs().sum()), float(b.abs().sum())
    if error == 0:
        return 0.0
    return error / size if size > 0 else float("inf")
