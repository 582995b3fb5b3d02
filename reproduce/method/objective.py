"""The paper's objective L_total (eq. 7) of an image, with its targets taken once; beyond the
paper, an optional total-variation term λ·TV(x) (tv_weight, neural-style's)."""
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from reproduce.image.convention import preprocess
from reproduce.image.files import resize
from reproduce.method.colour import colour_method
from reproduce.method.losses import (
    content_loss,
    feature_matrix,
    style_loss,
    total_loss,
    total_variation,
)
from reproduce.method.spatial import RegionMasks, guided_style_losses
from reproduce.method.style_losses import StyleLoss, make_style_loss
from reproduce.method.weights import WeightSettings, loss_weights
from reproduce.network.load import Network


class ObjectiveSettings(WeightSettings, Protocol):
    """What the objective is made from (a TransferConfig): layers, w_l, α/β, the blend of several
    styles' targets, the weight λ of total variation, and the style loss E_l with its option c and
    the seed of its random draws."""
    @property
    def content_layers(self) -> Sequence[str]: ...
    @property
    def style_layers(self) -> Sequence[str]: ...
    @property
    def style_weights(self) -> Sequence[float] | None: ...
    @property
    def style_blend(self) -> Sequence[float] | None: ...
    @property
    def tv_weight(self) -> float: ...
    @property
    def style_loss(self) -> str: ...
    @property
    def mmd_c(self) -> float: ...
    @property
    def seed(self) -> int: ...
    @property
    def guide_mode(self) -> str: ...
    @property
    def guide_grow(self) -> int: ...


@dataclass
class Losses:
    """The losses of an image as numbers: L_total, L_content, L_style, each E_l, and TV(x) when
    a total-variation weight is set (None otherwise)."""
    total: float
    content: float
    style: float
    E: dict[str, float] = field(default_factory=dict)
    tv: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """As logs, records and `loss --json` write it: total, content, style, [tv], E."""
        terms = dict(total=self.total, content=self.content, style=self.style)
        return dict(terms, **({} if self.tv is None else dict(tv=self.tv)), E=dict(self.E))


@dataclass
class LossTerms:
    """The losses of an image as tensors (the total differentiable)."""
    total: torch.Tensor
    content: torch.Tensor
    style: torch.Tensor
    E: dict[str, torch.Tensor]
    tv: torch.Tensor | None = None

    def numbers(self) -> Losses:
        """The same as plain floats, read from the device in one transfer."""
        terms = [self.total, self.content, self.style] + ([] if self.tv is None else [self.tv])
        values = torch.stack([*terms, *self.E.values()]).tolist()
        n = len(terms)
        return Losses(values[0], values[1], values[2], E=dict(zip(self.E, values[n:])),
                      tv=values[3] if self.tv is not None else None)


class Objective:
    """L_total (eq. 7) of an image, with the targets P^l (content) and the style losses E_l
    (their targets, A^l for the paper's) taken once, plus λ·TV(x) when settings.tv_weight λ > 0
    (beyond the paper)."""

    def __init__(self, net: Network, content: torch.Tensor | None,
                 styles: Sequence[torch.Tensor], settings: ObjectiveSettings,
                 regions: Sequence[RegionMasks] = ()) -> None:
        """`content` and `styles` are preprocessed images (None / [] leave that term out).
        `settings` (a TransferConfig) gives the layers, w_l, α/β, the blend of several styles'
        targets (style_blend), the weight λ of total variation (tv_weight), and the style loss
        (style_loss: the paper's eq. 4 by default; mmd_c, and seed for its random draws).
        `regions` (beyond the paper: spatial control) make it the guided Gram loss of each
        region against its style image, carried to the layers as settings.guide_mode and
        guide_grow say."""
        self.net = net
        self.tv_weight = float(settings.tv_weight)
        self.alpha, self.beta = loss_weights(settings, content is not None, bool(styles))
        self.content_layers = tuple(settings.content_layers) if content is not None else ()
        self.style_layers = tuple(settings.style_layers) if styles else ()
        net.check_blobs(self.content_layers + self.style_layers)
        n = len(self.style_layers)
        self.w = dict(zip(self.style_layers, settings.style_weights or [1.0 / max(n, 1)] * n))
        self.layers = tuple(dict.fromkeys(self.content_layers + self.style_layers))
        with torch.no_grad():
            self.P: dict[str, torch.Tensor] = {}
            if content is not None:
                blobs = net.blobs(content, self.content_layers)
                self.P = {l: feature_matrix(blobs[l]) for l in self.content_layers}
            S = [net.blobs(style, self.style_layers) for style in styles]
            S_l = [{l: feature_matrix(s[l]) for l in self.style_layers} for s in S]
            self.E_l: dict[str, Callable[[torch.Tensor], torch.Tensor]] = dict(
                guided_style_losses(net, regions, S_l, self.style_layers, settings.guide_mode,
                                    settings.guide_grow) if regions else
                layer_style_losses(settings.style_loss, S_l, settings))

    def losses(self, x: torch.Tensor) -> LossTerms:
        """The loss terms of a preprocessed image x. With λ = tv_weight > 0 also TV(x), and the
        total is eq. 7 + λ·TV(x); with λ = 0 the TV term is not computed at all, so the total
        is eq. 7 exactly."""
        content: dict[str, torch.Tensor] = {}
        style: dict[str, torch.Tensor] = {}
        # each layer's terms as soon as its blob is out: the backward pass, which runs in the
        # reverse order of the forward, then takes a term's gradient only when it reaches the
        # layer, instead of holding every term's gradient all the way down (reproduce.network.stages)
        for l, blob in self.net.blobs_in_order(x, self.layers):
            F = feature_matrix(blob)
            if l in self.P:
                content[l] = content_loss(F, self.P[l])
            if l in self.E_l:
                style[l] = self.E_l[l](F)
        zero = torch.zeros((), device=x.device, dtype=x.dtype)
        L_content = sum((content[l] for l in self.content_layers), zero)
        E = {l: style[l] for l in self.style_layers}
        L_style = style_loss(E, self.w) if E else zero
        terms = LossTerms(total_loss(L_content, L_style, self.alpha, self.beta), L_content,
                          L_style, E)
        if self.tv_weight > 0:
            terms.tv = total_variation(x)
            terms.total = terms.total + self.tv_weight * terms.tv
        return terms

    def value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, LossTerms]:
        """(L_total, ∂L_total/∂x, all the loss terms) for a preprocessed image x, in the
        network's precision."""
        x = x.detach().to(self.net.dtype).requires_grad_(True)
        terms = self.losses(x)
        terms.total.backward()  # type: ignore[no-untyped-call]
        assert x.grad is not None  # x requires grad and the total depends on it
        return terms.total.detach(), x.grad, terms

    def values(self, x: torch.Tensor) -> Losses:
        """The losses of x as plain floats, without a gradient."""
        with torch.no_grad():
            return self.losses(x).numbers()


class StyleLossSettings(Protocol):
    @property
    def style_blend(self) -> Sequence[float] | None: ...
    @property
    def mmd_c(self) -> float: ...
    @property
    def seed(self) -> int: ...


def layer_style_losses(name: str, S: Sequence[dict[str, torch.Tensor]],
                       settings: StyleLossSettings) -> dict[str, StyleLoss]:
    """The style loss `name` at each layer of S, a {layer: S^l} of each painting, with the
    settings' blend, c and seed; the layers draw what they draw from one stream seeded by the
    seed, in order, so that no two layers share their draws and one seed gives one f."""
    draws = torch.Generator().manual_seed(settings.seed)
    layers = list(S[0]) if S else []
    return {l: make_style_loss(name, [S_k[l] for S_k in S], settings.style_blend,
                               c=settings.mmd_c, seed=draws) for l in layers}


class ScoringSettings(ObjectiveSettings, Protocol):
    @property
    def preserve_colour(self) -> str | None: ...


def paper_losses(net: Network, image: np.ndarray, content: np.ndarray | None,
                 styles: Sequence[np.ndarray], settings: ScoringSettings) -> Losses:
    """The paper's losses of an RGB image against a content image (resized to the image's size)
    and style images (taken as given), without optimising anything. Under colour preservation
    (settings.preserve_colour) all three are the images the network sees."""
    colour = colour_method(settings.preserve_colour)
    content = None if content is None else resize(content, image.shape[:2])
    content, seen_styles = colour.inputs(content, list(styles))
    objective = Objective(net, None if content is None else preprocess(content, net.device),
                          [preprocess(s, net.device) for s in seen_styles], settings)
    return objective.values(preprocess(colour.seen(image), net.device))
