"""The paper's objective L_total (eq. 7) of an image, with its targets taken once; beyond the
paper, an optional total-variation term λ·TV(x) (config.tv_weight, neural-style's)."""
import numpy as np
import torch

from reproduce.errors import ReproduceError
from reproduce.method.colour import colour_inputs, seen_image
from reproduce.method.image import preprocess, resize
from reproduce.method.losses import (
    content_loss,
    feature_matrix,
    gram,
    style_layer_loss,
    style_loss,
    total_loss,
    total_variation,
)
from reproduce.run.config import loss_weights


def check_layers(net, layers) -> None:
    """One line naming any layer the network does not have."""
    unknown = [l for l in layers if l not in net.blob_names]
    if unknown:
        raise ReproduceError(f"unknown layer {', '.join(unknown)}; the network has "
                             f"{', '.join(net.blob_names)}")


class Objective:
    """L_total (eq. 7) of an image, with the targets P^l (content) and A^l (style) taken once,
    plus λ·TV(x) when config.tv_weight λ > 0 (beyond the paper)."""

    def __init__(self, net, content: torch.Tensor | None, styles: list, config) -> None:
        """`content` and `styles` are preprocessed images (None / [] leave that term out).
        `config` (a TransferConfig) gives the layers, w_l, α/β and the blend of several styles'
        Gram targets A^l (config.style_blend), and the weight λ of total variation
        (config.tv_weight); its file names are not used."""
        self.net = net
        self.tv_weight = float(config.tv_weight)
        self.alpha, self.beta = loss_weights(config, content is not None, bool(styles))
        self.content_layers = tuple(config.content_layers) if content is not None else ()
        self.style_layers = tuple(config.style_layers) if styles else ()
        check_layers(net, self.content_layers + self.style_layers)
        n = len(self.style_layers)
        self.w = dict(zip(self.style_layers, config.style_weights or [1.0 / max(n, 1)] * n))
        self.layers = tuple(dict.fromkeys(self.content_layers + self.style_layers))
        blend = np.asarray(config.style_blend or [1.0] * len(styles), dtype=np.float64)
        blend = blend / blend.sum()
        with torch.no_grad():
            self.P = {}
            if content is not None:
                blobs = net.blobs(content, self.content_layers)
                self.P = {l: feature_matrix(blobs[l]) for l in self.content_layers}
            self.A = {l: 0.0 for l in self.style_layers}
            for b, style in zip(blend, styles):
                blobs = net.blobs(style, self.style_layers)
                for l in self.style_layers:
                    self.A[l] = self.A[l] + float(b) * gram(feature_matrix(blobs[l]))

    def losses(self, x: torch.Tensor) -> dict:
        """{'content', 'E': {layer: E_l}, 'style', 'total'} as tensors, for a preprocessed image x.
        With λ = tv_weight > 0 also 'tv': TV(x), and the total is eq. 7 + λ·TV(x); with λ = 0
        the TV term is not computed at all, so the total is eq. 7 exactly."""
        blobs = self.net.blobs(x, self.layers)
        F = {l: feature_matrix(blobs[l]) for l in self.layers}
        L_content = sum((content_loss(F[l], self.P[l]) for l in self.content_layers),
                        torch.zeros((), device=x.device))
        E = {l: style_layer_loss(gram(F[l]), self.A[l], *F[l].shape) for l in self.style_layers}
        L_style = style_loss(E, self.w) if E else torch.zeros((), device=x.device)
        L = dict(content=L_content, E=E, style=L_style,
                 total=total_loss(L_content, L_style, self.alpha, self.beta))
        if self.tv_weight > 0:
            L["tv"] = total_variation(x)
            L["total"] = L["total"] + self.tv_weight * L["tv"]
        return L

    def value_and_grad(self, x: torch.Tensor) -> tuple:
        """(L_total, ∂L_total/∂x, all the loss terms) for a preprocessed image x."""
        x = x.detach().requires_grad_(True)
        L = self.losses(x)
        L["total"].backward()
        return L["total"].detach(), x.grad, L

    def values(self, x: torch.Tensor) -> dict:
        """The losses of x as plain floats, without a gradient."""
        with torch.no_grad():
            return as_floats(self.losses(x))


def as_floats(L: dict) -> dict:
    """A losses dict of tensors as plain floats, read from the device in one transfer."""
    terms = [name for name in ("total", "content", "style", "tv") if name in L]
    values = torch.stack([*(L[name] for name in terms), *L["E"].values()]).tolist()
    return dict(zip(terms, values), E=dict(zip(L["E"], values[len(terms):])))


def paper_losses(net, image: np.ndarray, content: np.ndarray | None, styles: list, config) -> dict:
    """The paper's losses of an RGB image against a content image (resized to the image's size)
    and style images (taken as given), without optimising anything. Under colour preservation
    (config.preserve_colour) all three are the images the network sees (colour.colour_inputs,
    colour.seen_image)."""
    content = None if content is None else resize(content, image.shape[:2])
    content, styles = colour_inputs(config.preserve_colour, content, styles)
    objective = Objective(net, None if content is None else preprocess(content, net.device),
                          [preprocess(s, net.device) for s in styles], config)
    return objective.values(preprocess(seen_image(config.preserve_colour, image), net.device))
