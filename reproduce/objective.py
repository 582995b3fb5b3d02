"""The paper's objective L_total (eq. 7) of an image, with its targets taken once."""
import numpy as np
import torch

from reproduce.config import loss_weights
from reproduce.errors import ReproduceError
from reproduce.image import preprocess, resize
from reproduce.losses import (
    content_loss,
    feature_matrix,
    gram,
    style_layer_loss,
    style_loss,
    total_loss,
)


def check_layers(net, layers) -> None:
    """One line naming any layer the network does not have."""
    unknown = [l for l in layers if l not in net.blob_names]
    if unknown:
        raise ReproduceError(f"unknown layer {', '.join(unknown)}; the network has "
                             f"{', '.join(net.blob_names)}")


class Objective:
    """L_total (eq. 7) of an image, with the targets P^l (content) and A^l (style) taken once."""

    def __init__(self, net, content: torch.Tensor | None, styles: list, config) -> None:
        """`content` and `styles` are preprocessed images (None / [] leave that term out).
        `config` (a TransferConfig) gives the layers, w_l, α/β and the blend of several styles'
        Gram targets A^l (config.style_blend); its file names are not used."""
        self.net = net
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
        """{'content', 'E': {layer: E_l}, 'style', 'total'} as tensors, for a preprocessed image x."""
        blobs = self.net.blobs(x, self.layers)
        F = {l: feature_matrix(blobs[l]) for l in self.layers}
        L_content = sum((content_loss(F[l], self.P[l]) for l in self.content_layers),
                        torch.zeros((), device=x.device))
        E = {l: style_layer_loss(gram(F[l]), self.A[l], *F[l].shape) for l in self.style_layers}
        L_style = style_loss(E, self.w) if E else torch.zeros((), device=x.device)
        return dict(content=L_content, E=E, style=L_style,
                    total=total_loss(L_content, L_style, self.alpha, self.beta))

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
    values = torch.stack([L["total"], L["content"], L["style"], *L["E"].values()]).tolist()
    return dict(total=values[0], content=values[1], style=values[2], E=dict(zip(L["E"], values[3:])))


def paper_losses(net, image: np.ndarray, content: np.ndarray | None, styles: list, config) -> dict:
    """The paper's losses of an RGB image against a content image (resized to the image's size)
    and style images (taken as given), without optimising anything."""
    content = None if content is None else preprocess(resize(content, image.shape[:2]), net.device)
    objective = Objective(net, content, [preprocess(s, net.device) for s in styles], config)
    return objective.values(preprocess(image, net.device))
