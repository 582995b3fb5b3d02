"""Style transfer as the paper runs it: targets once, then L-BFGS-B on the pixels (eq. 7)."""
import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from reproduce.errors import ReproduceError
from reproduce.files import file_digest, write_json
from reproduce.image import (
    deprocess,
    load_image,
    long_side_shape,
    pixel_bounds,
    preprocess,
    resize,
    save_image,
)
from reproduce.losses import (
    content_loss,
    feature_matrix,
    gram,
    style_layer_loss,
    style_loss,
    total_loss,
)
from reproduce.network import VGG19, load_network
from reproduce.optimise import converged, lbfgs
from reproduce.optimise_device import lbfgs_on_device

CONTENT_LAYERS = ("conv4_2",)
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
BETA = 1e6       # β when only the ratio α/β is given (the authors' suggestion to pystiche)
OPTIMISERS = ("scipy", "device")  # scipy's L-BFGS-B (the authors'), or optimise_device's
NOISE_STD = 1.0  # white-noise start: N(0, 1) per pixel in the preprocessed (0..255 − mean) space


@dataclass
class TransferConfig:
    content: str = None
    styles: tuple = ()
    style_blend: tuple = None
    model: str = str(VGG19)
    output: str = "out.png"
    size: int = 512
    ratio: float = 1e-3
    alpha: float = None
    beta: float = None
    content_layers: tuple = CONTENT_LAYERS
    style_layers: tuple = STYLE_LAYERS
    style_weights: tuple = None
    pooling: str = "avg"
    init: str = "noise"
    iterations: int = 1000
    seed: int = 0
    device: str = "cpu"
    save_every: int = 0
    log: str = None
    style_size: str = "content"  # cvpr: style resized to the content's size; "keep": own aspect
    optimiser: str = "scipy"     # one of OPTIMISERS

    def __post_init__(self):
        check_config(self)


def loss_weights(config, has_content, has_style):
    """(α, β) of eq. 7: explicit values win; else β = BETA and α = ratio·β. No content image
    means α = 0 (pure style reconstruction), no style image β = 0 (pure content)."""
    if config.alpha is not None or config.beta is not None:
        alpha = 1.0 if config.alpha is None else config.alpha
        beta = 1.0 if config.beta is None else config.beta
    else:
        alpha, beta = config.ratio * BETA, BETA
    return (alpha if has_content else 0.0), (beta if has_style else 0.0)


def check_config(config):
    """Reject parameters the paper's method cannot run with, with a one-line reason."""
    positive = dict(size=config.size, iterations=config.iterations, ratio=config.ratio)
    for name, value in positive.items():
        if value is None or not value > 0:
            raise ReproduceError(f"--{name} must be positive, not {value}")
    for name in ("alpha", "beta"):
        value = getattr(config, name)
        if value is not None and not value >= 0:
            raise ReproduceError(f"--{name} must be zero or positive, not {value}")
    if not (config.content or config.styles):
        raise ReproduceError("give a content image, a style image, or both")
    if config.style_blend is not None:
        if len(config.style_blend) != len(config.styles) or min(config.style_blend) <= 0:
            raise ReproduceError("--style-blend needs one positive weight per style image")
    if config.style_weights is not None:
        if len(config.style_weights) != len(config.style_layers) or min(config.style_weights) < 0 \
                or not sum(config.style_weights) > 0:
            raise ReproduceError("style layer weights w_l: one non-negative weight per style "
                                 "layer, not all zero")
    if config.style_size not in ("content", "keep"):
        raise ReproduceError(f"style size must be 'content' or 'keep', not {config.style_size!r}")
    if config.optimiser not in OPTIMISERS:
        raise ReproduceError(f"optimiser must be one of {', '.join(OPTIMISERS)}, "
                             f"not {config.optimiser!r}")


class Objective:
    """L_total (eq. 7) of an image, with the targets P^l (content) and A^l (style) taken once."""

    def __init__(self, net, content, styles, config):
        """`content` and `styles` are preprocessed images (None / [] leave that term out);
        several styles blend their Gram targets A^l with config.style_blend."""
        self.net = net
        self.alpha, self.beta = loss_weights(config, content is not None, bool(styles))
        self.content_layers = tuple(config.content_layers) if content is not None else ()
        self.style_layers = tuple(config.style_layers) if styles else ()
        unknown = [l for l in self.content_layers + self.style_layers if l not in net.blob_names]
        if unknown:
            raise ReproduceError(f"unknown layer {', '.join(unknown)}; the network has "
                                 f"{', '.join(net.blob_names)}")
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

    def losses(self, x):
        """{'content', 'E': {layer: E_l}, 'style', 'total'} as tensors, for a preprocessed image x."""
        blobs = self.net.blobs(x, self.layers)
        F = {l: feature_matrix(blobs[l]) for l in self.layers}
        L_content = sum((content_loss(F[l], self.P[l]) for l in self.content_layers),
                        torch.zeros((), device=x.device))
        E = {l: style_layer_loss(gram(F[l]), self.A[l], *F[l].shape) for l in self.style_layers}
        L_style = style_loss(E, self.w) if E else torch.zeros((), device=x.device)
        return dict(content=L_content, E=E, style=L_style,
                    total=total_loss(L_content, L_style, self.alpha, self.beta))

    def value_and_grad(self, x):
        """(L_total, ∂L_total/∂x, all the loss terms) for a preprocessed image x."""
        x = x.detach().requires_grad_(True)
        L = self.losses(x)
        L["total"].backward()
        return L["total"].detach(), x.grad, L


def as_floats(L):
    """A losses dict of tensors as plain floats, read from the device in one transfer."""
    values = torch.stack([L["total"], L["content"], L["style"], *L["E"].values()]).tolist()
    return dict(total=values[0], content=values[1], style=values[2], E=dict(zip(L["E"], values[3:])))


def for_scipy(value_and_grad):
    """(f, g) as scipy takes them: a float and a flat float64 numpy array."""
    f, g = value_and_grad
    return float(f), g.cpu().numpy()


def prepare_images(config):
    """The content and style images (RGB float, resized as the config asks) and the output shape."""
    content = load_image(config.content, config.size) if config.content else None
    styles = [load_image(path) for path in config.styles]
    shape = content.shape[:2] if content is not None else \
        long_side_shape(styles[0].shape[:2], config.size)
    if config.style_size == "content":
        styles = [resize(s, shape) for s in styles]
    else:
        styles = [resize(s, long_side_shape(s.shape[:2], config.size)) for s in styles]
    return content, styles, shape


def initial_image(config, content, styles, shape):
    """The start of the optimisation, preprocessed: white noise (seeded), content, style or a file."""
    if config.init == "noise":
        noise = np.random.default_rng(config.seed).standard_normal((1, 3, *shape)) * NOISE_STD
        return torch.from_numpy(noise.astype(np.float32))
    if config.init == "content":
        if content is None:
            raise ReproduceError("--init content needs a content image")
        return preprocess(content)
    if config.init == "style":
        if not styles:
            raise ReproduceError("--init style needs a style image")
        return preprocess(resize(styles[0], shape))
    return preprocess(resize(load_image(config.init), shape))


def run_transfer(config, net=None, progress=True):
    """Synthesise config.output by L-BFGS-B on eq. 7; returns a summary (losses, iterations, time)."""
    torch.manual_seed(config.seed)
    net = net or load_network(config.model, pooling=config.pooling, device=config.device)
    device = net.device
    content, styles, shape = prepare_images(config)
    objective = Objective(net, None if content is None else preprocess(content, device),
                          [preprocess(s, device) for s in styles], config)
    bounds = [torch.from_numpy(b) for b in pixel_bounds(shape)]
    x0 = torch.clamp(initial_image(config, content, styles, shape).double().ravel(), *bounds)

    def image(flat):
        return flat.float().view(1, 3, *shape)

    last, history, start = {"x": x0}, [], time.perf_counter()

    def fun(flat):
        total, grad, L = objective.value_and_grad(image(flat))
        last["L"] = L
        return total.double(), grad.reshape(-1).double()

    bar = tqdm(total=config.iterations, disable=not progress, unit="it", desc="L-BFGS-B")

    def after_iteration(flat, f):
        last["x"] = flat
        losses = as_floats(last["L"])
        history.append(dict(iteration=len(history) + 1, seconds=time.perf_counter() - start,
                            **losses))
        bar.set_postfix(total=f"{f:.4g}", content=f"{losses['content']:.3g}",
                        style=f"{losses['style']:.3g}", refresh=False)
        bar.update(1)
        if config.save_every and len(history) % config.save_every == 0:
            save_image(config.output, deprocess(image(flat)))

    def finish(flat, iterations, reason, completed):
        """Write the image (and the log) of `flat`; returns the run's summary."""
        seconds = time.perf_counter() - start
        x = image(torch.as_tensor(flat)).to(device)
        save_image(config.output, deprocess(x))
        with torch.no_grad():
            final = as_floats(objective.losses(x))
        summary = dict(output=config.output, losses=final, iterations=iterations, stop=reason,
                       completed=completed, seconds=seconds, alpha=objective.alpha,
                       beta=objective.beta, model_sha256=file_digest(config.model),
                       config=dataclasses.asdict(config))
        if config.log:
            write_json(config.log, dict(summary, history=history))
        return summary

    try:
        if config.optimiser == "device":
            flat, f, iterations, reason = lbfgs_on_device(
                fun, x0.to(device), [b.to(device) for b in bounds], config.iterations,
                after_iteration)
        else:
            flat, f, iterations, reason = lbfgs(
                lambda x: for_scipy(fun(torch.from_numpy(x).to(device))), x0.numpy(),
                [b.numpy() for b in bounds], config.iterations,
                lambda x, f: after_iteration(torch.from_numpy(x), f))
            flat = torch.from_numpy(flat)
    except KeyboardInterrupt as interrupt:  # Ctrl-C or SIGTERM: save the last iterate, stop
        bar.close()
        interrupt.summary = finish(last["x"], len(history), "interrupted", completed=False)
        raise
    bar.close()
    # done as asked: every iteration, or a stop the optimiser itself judged convergence
    return finish(flat, iterations, reason,
                  completed=iterations >= config.iterations or converged(reason))


def paper_losses(net, image, content, styles, config):
    """The paper's losses of an RGB image against a content image (resized to the image's size)
    and style images (taken as given), without optimising anything."""
    content = None if content is None else preprocess(resize(content, image.shape[:2]), net.device)
    objective = Objective(net, content, [preprocess(s, net.device) for s in styles], config)
    with torch.no_grad():
        return as_floats(objective.losses(preprocess(image, net.device)))
