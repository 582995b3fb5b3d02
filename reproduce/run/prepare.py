"""What a transfer and a scoring share, made once: the checks before any work, the network, the
images at their sizes and as the network sees them, the objective, and the start image."""
import math
from dataclasses import dataclass

import numpy as np
import torch

from reproduce.errors import ParameterError
from reproduce.image.convention import preprocess
from reproduce.image.files import centre_square, load_image, long_side_shape, resize
from reproduce.method.colour import Plain, colour_method
from reproduce.method.objective import Objective
from reproduce.network.load import Network, load_network
from reproduce.network.memory import check_memory
from reproduce.run.config import TransferConfig, check_inputs, check_outputs, flag

NOISE_STD = 1.0  # white-noise start: N(0, 1) per pixel in the preprocessed (0..255 − mean) space


def read_image(path: str, long_side: int | None, config: TransferConfig) -> np.ndarray:
    """An input image as RGB float (load_image), within the config's pixel limit."""
    return load_image(path, long_side, max_pixels=config.max_pixels)


def scaled_style_shape(shape_hw: tuple[int, int], scale: float) -> tuple[int, int]:
    """The painting's (H, W) at `scale` × the shape the paper takes it at (neural-style's
    -style_scale, beyond the 2015 paper): round(scale · H) × round(scale · W), at least 1×1.
    Scale 1 gives `shape_hw` itself."""
    if not (math.isfinite(scale) and scale > 0):
        raise ParameterError(f"style_scale must be a finite positive number, not {scale}")
    h, w = shape_hw
    return max(1, round(h * scale)), max(1, round(w * scale))


def style_shape(config: TransferConfig, painting_hw: tuple[int, int],
                shape: tuple[int, int]) -> tuple[int, int]:
    """(H, W) of a painting: the output shape (--style-size content, CVPR) or its own aspect at
    --size (keep, arXiv), times the style scale."""
    paper = tuple(shape) if config.style_size == "content" else \
        long_side_shape(painting_hw, config.size)
    return scaled_style_shape(paper, config.style_scale)  # type: ignore[arg-type]


def prepare_images(config: TransferConfig
                   ) -> tuple[np.ndarray | None, list[np.ndarray], tuple[int, int]]:
    """The content and style images (RGB float, resized as the config asks) and the output shape.
    Each painting (its centre square with --style-crop square, beyond the paper) is taken at the
    shape --style-size gives it (the paper's), times config.style_scale (beyond the paper; 1
    leaves that shape as it is)."""
    content = read_image(config.content, config.size, config) if config.content else None
    styles = [read_image(path, None, config) for path in config.styles]
    if config.style_crop == "square":
        styles = [centre_square(style) for style in styles]
    shape = content.shape[:2] if content is not None else \
        long_side_shape(styles[0].shape[:2], config.size)
    return content, [resize(s, style_shape(config, s.shape[:2], shape)) for s in styles], shape


def used_layers(config: TransferConfig) -> tuple[str, ...]:
    """The layers the objective reads: content layers with a content image, style layers with
    style images."""
    return (tuple(config.content_layers) if config.content else ()) + \
        (tuple(config.style_layers) if config.styles else ())


def check_style_memory(net: Network, config: TransferConfig) -> None:
    """A style scale S > 1 takes the painting larger than the output: check the square of
    S × --size too (a bound: the Gram targets need the forward pass only)."""
    if config.styles and config.style_scale > 1:
        side = math.ceil(config.style_scale * config.size)
        check_memory(net, config.style_layers, (side, side), flag("style_scale"))


@dataclass
class Prepared:
    """A run made ready: the network, the images (RGB at their synthesis sizes), the output
    shape, the colour preservation, the images the network sees and the objective."""
    net: Network
    content: np.ndarray | None
    styles: list[np.ndarray]
    shape: tuple[int, int]
    colour: Plain
    seen_content: np.ndarray | None
    seen_styles: list[np.ndarray]
    objective: Objective


def prepare(config: TransferConfig, net: Network | None = None, outputs: bool = True) -> Prepared:
    """Check the inputs (and the outputs, unless `outputs` is False: a scoring writes none),
    load the network unless given, check its layers and the memory before any image is read,
    then read the images and take the objective's targets."""
    check_inputs(config)
    if outputs:
        check_outputs(config)
    net = net or load_network(config.model, pooling=config.pooling, device=config.device,
                              precision=config.precision)
    net.check_image_input()
    net.check_blobs(used_layers(config))
    check_memory(net, used_layers(config), (config.size, config.size), flag("size"))  # the long side's square
    check_style_memory(net, config)
    content, styles, shape = prepare_images(config)
    colour = colour_method(config.preserve_colour)
    seen_content, seen_styles = colour.inputs(content, styles)
    objective = Objective(net, None if seen_content is None else preprocess(seen_content, net.device),
                          [preprocess(s, net.device) for s in seen_styles], config)
    return Prepared(net, content, styles, shape, colour, seen_content, seen_styles, objective)


def white_noise(shape: tuple[int, int], seed: int) -> torch.Tensor:
    """The paper's start: white noise, N(0, NOISE_STD²) per pixel of the preprocessed image,
    1×3×H×W float32, the same for the same seed."""
    noise = np.random.default_rng(seed).standard_normal((1, 3, *shape)) * NOISE_STD
    return torch.from_numpy(noise.astype(np.float32))


def initial_image(config: TransferConfig, prepared: Prepared) -> torch.Tensor:
    """The start of the optimisation, preprocessed: white noise (seeded), content, style or a file,
    each as the network sees it (a file under colour preservation too)."""
    shape = prepared.shape
    if config.init == "noise":
        return white_noise(shape, config.seed)
    if config.init == "content":
        assert prepared.seen_content is not None  # check_inputs: init content needs a content image
        return preprocess(prepared.seen_content)
    if config.init == "style":
        return preprocess(resize(prepared.seen_styles[0], shape))
    start = resize(read_image(config.init, None, config), shape)
    return preprocess(prepared.colour.seen(start))
