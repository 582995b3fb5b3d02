"""What a transfer and a scoring share, made once: the checks before any work, the network, the
images at their sizes and as the network sees them, the objective, and the start image."""
import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from reproduce.errors import ParameterError
from reproduce.image.convention import deprocess, preprocess
from reproduce.image.files import centre_square, load_image, long_side_shape, resize
from reproduce.method.colour import Plain, colour_method, match_colour_histogram
from reproduce.method.objective import Objective
from reproduce.method.spatial import RegionMasks
from reproduce.network.load import Network, load_network
from reproduce.optim.synthesis import Synthesis, synthesise
from reproduce.run.config import TransferConfig, check_inputs, check_outputs, flag
from reproduce.run.memory import Estimate, check_forward, plan
from reproduce.run.regions import parse_regions

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
    styles = [read_image(path, None, config) for path in config.style_images]
    if config.style_crop == "square":
        styles = [centre_square(style) for style in styles]
    shape = content.shape[:2] if content is not None else \
        long_side_shape(styles[0].shape[:2], config.size)
    return content, [resize(s, style_shape(config, s.shape[:2], shape)) for s in styles], shape


def used_layers(config: TransferConfig) -> tuple[str, ...]:
    """The layers the objective reads: content layers with a content image, style layers with
    style images."""
    return (tuple(config.content_layers) if config.content else ()) + \
        (tuple(config.style_layers) if config.style_images else ())


def check_style_memory(net: Network, config: TransferConfig) -> None:
    """A style scale S > 1 takes the painting larger than the output: check the square of
    S × --size too (a bound: the Gram targets need the forward pass only)."""
    if config.style_images and config.style_scale > 1:
        side = math.ceil(config.style_scale * config.size)
        check_forward(net, config, (side, side), flag("style_scale"))


def read_mask(path: str, shape: tuple[int, int], config: TransferConfig) -> np.ndarray:
    """A region's mask at an image's shape: channel 0 of a greyscale image, 0–1 (white inside),
    resized as the image is."""
    mask = read_image(path, None, config)[..., :1].repeat(3, axis=2)
    return np.clip(resize(mask, shape)[..., 0] / 255.0, 0.0, 1.0)


def region_masks(config: TransferConfig, styles: list[np.ndarray],
                 shape: tuple[int, int]) -> list[RegionMasks]:
    """Spatial control's regions with their masks at the content's shape and at their style
    images' (all ones where a region takes its whole style image)."""
    order = list(config.style_images)
    masks = []
    for region in parse_regions(config.regions):
        k = order.index(region.style)
        style_shape = styles[k].shape[:2]
        style_mask = np.ones(style_shape) if region.style_mask is None else \
            read_mask(region.style_mask, style_shape, config)
        masks.append(RegionMasks(region.name, read_mask(region.mask, shape, config), k,
                                 style_mask))
    return masks


def scale_control(config: TransferConfig, net: Network, content: np.ndarray,
                  coarse: np.ndarray) -> tuple[np.ndarray, Synthesis]:
    """Scale control (Gatys et al. 2017, section 6): both paintings colour-matched to the
    photograph (colour histogram matching, clipped), then a new style image synthesised from the
    coarse painting towards the fine one's Gram matrices on --fine-layers alone: the fine
    painting's small-scale texture over the coarse one's large-scale structure. Returns it (RGB,
    at the coarse painting's shape) and its synthesis."""
    fine = read_image(str(config.fine_style), None, config)
    fine = resize(fine, style_shape(config, fine.shape[:2], content.shape[:2]))
    fine, coarse = (np.clip(match_colour_histogram(p, content), 0, 255) for p in (fine, coarse))
    settings = dataclasses.replace(config, fine_style=None, style_layers=config.fine_layers,
                                   style_weights=None, style_blend=None, tv_weight=0.0,
                                   preserve_colour=None)
    objective = Objective(net, None, [preprocess(fine, net.device)], settings)
    result = synthesise(objective, preprocess(coarse), optimiser=config.optimiser,
                        iterations=config.fine_iterations)
    return deprocess(result.image), result


@dataclass
class Prepared:
    """A run made ready: the network, the images (RGB at their synthesis sizes), the output
    shape, the colour preservation, the images the network sees and the objective; with scale
    control, the synthesis of the new style image (which stands in `styles`)."""
    net: Network
    content: np.ndarray | None
    styles: list[np.ndarray]
    shape: tuple[int, int]
    colour: Plain
    seen_content: np.ndarray | None
    seen_styles: list[np.ndarray]
    objective: Objective
    new_style: Synthesis | None = None
    memory: Estimate | None = None  # the memory plan the run goes with


def prepare(config: TransferConfig, net: Network | None = None, outputs: bool = True) -> Prepared:
    """Check the inputs (and the outputs, unless `outputs` is False: a scoring writes none),
    load the network unless given, check its layers, read the images, plan the memory at their
    size (reproduce.run.memory.plan: recomputation when it must), then take the objective's
    targets."""
    check_inputs(config)
    if outputs:
        check_outputs(config)
    net = net or load_network(config.model, pooling=config.pooling, device=config.device,
                              precision=config.precision)
    net.check_image_input()
    net.check_blobs(used_layers(config) + (tuple(config.fine_layers) if config.fine_style else ()))
    check_style_memory(net, config)
    content, styles, shape = prepare_images(config)
    memory = plan(net, config, shape, flag("size"))
    new_style = None
    if config.fine_style is not None:
        assert content is not None  # check_config: scale control needs a content image
        styles[0], new_style = scale_control(config, net, content, styles[0])
    colour = colour_method(config.preserve_colour)
    seen_content, seen_styles = colour.inputs(content, styles)
    objective = Objective(net, None if seen_content is None else preprocess(seen_content, net.device),
                          [preprocess(s, net.device) for s in seen_styles], config,
                          region_masks(config, styles, shape))
    return Prepared(net, content, styles, shape, colour, seen_content, seen_styles, objective,
                    new_style, memory)


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
