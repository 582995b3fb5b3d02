"""Style transfer as a run: check the parameters and outputs, load the network and images,
synthesise (reproduce.optim.synthesis), and report, save and log."""
import dataclasses
import math
import time

import numpy as np
import torch
from tqdm import tqdm

from reproduce.files import write_json
from reproduce.method.colour import colour_inputs, colour_output, seen_image
from reproduce.method.image import (
    deprocess,
    load_image,
    long_side_shape,
    preprocess,
    resize,
    save_image,
    scaled_style_shape,
)
from reproduce.method.objective import Objective, as_floats, check_layers, paper_losses  # noqa: F401
from reproduce.network.load import load_network
from reproduce.network.memory import check_memory
from reproduce.optim.synthesis import OPTIMISERS, Synthesis, synthesise  # noqa: F401
from reproduce.run.config import (  # noqa: F401 (the names others import from here)
    BETA,
    CONTENT_LAYERS,
    STYLE_LAYERS,
    TransferConfig,
    check_inputs,
    check_outputs,
    flag,
    loss_weights,
    resolve_weights,
)

NOISE_STD = 1.0  # white-noise start: N(0, 1) per pixel in the preprocessed (0..255 − mean) space


def read_image(path, long_side=None, config=None):
    """An input image as RGB float (load_image), within the config's pixel limit."""
    return load_image(path, long_side, max_pixels=(config or TransferConfig()).max_pixels)


def prepare_images(config: TransferConfig) -> tuple:
    """The content and style images (RGB float, resized as the config asks) and the output shape.
    Each painting is taken at the shape --style-size gives it (the paper's), times
    config.style_scale (beyond the paper; 1 leaves that shape as it is)."""
    content = read_image(config.content, config.size, config) if config.content else None
    styles = [read_image(path, None, config) for path in config.styles]
    shape = content.shape[:2] if content is not None else \
        long_side_shape(styles[0].shape[:2], config.size)
    return content, [resize(s, style_shape(config, s.shape[:2], shape)) for s in styles], shape


def style_shape(config: TransferConfig, painting_hw, shape) -> tuple:
    """(H, W) of a painting: the output shape (--style-size content, CVPR) or its own aspect at
    --size (keep, arXiv), times the style scale."""
    paper = tuple(shape) if config.style_size == "content" else \
        long_side_shape(painting_hw, config.size)
    return scaled_style_shape(paper, config.style_scale)


def initial_image(config: TransferConfig, content, styles, shape) -> torch.Tensor:
    """The start of the optimisation, preprocessed: white noise (seeded), content, style or a file.
    `content` and `styles` are the images the network sees (colour.colour_inputs); a file is
    taken as the network would see it too (colour.seen_image)."""
    if config.init == "noise":
        noise = np.random.default_rng(config.seed).standard_normal((1, 3, *shape)) * NOISE_STD
        return torch.from_numpy(noise.astype(np.float32))
    if config.init == "content":
        return preprocess(content)
    if config.init == "style":
        return preprocess(resize(styles[0], shape))
    start = resize(read_image(config.init, None, config), shape)
    return preprocess(seen_image(config.preserve_colour, start))


def used_layers(config: TransferConfig) -> tuple:
    """The layers the objective reads: content layers with a content image, style layers with
    style images."""
    return (tuple(config.content_layers) if config.content else ()) + \
        (tuple(config.style_layers) if config.styles else ())


def check_style_memory(net, config: TransferConfig) -> None:
    """A style scale S > 1 takes the painting larger than the output: check the square of
    S × --size too (a bound: the Gram targets need the forward pass only)."""
    if config.styles and config.style_scale > 1:
        side = math.ceil(config.style_scale * config.size)
        check_memory(net, config.style_layers, (side, side), flag("style_scale"))


def run_transfer(config: TransferConfig, net=None, progress: bool = True) -> dict:
    """Synthesise config.output by L-BFGS on eq. 7 and return a summary: output, losses,
    iterations, stop, completed, seconds, alpha, beta, model_sha256, config.

    Inputs and outputs are checked before the network loads, the memory before any image does.
    On Ctrl-C or SIGTERM the last iterate and the log are written, marked completed False, and
    the KeyboardInterrupt propagates with that `.summary`."""
    check_inputs(config)
    check_outputs(config)
    torch.manual_seed(config.seed)
    net = net or load_network(config.model, pooling=config.pooling, device=config.device)
    check_layers(net, used_layers(config))
    check_memory(net, used_layers(config), (config.size, config.size))  # the long side's square
    check_style_memory(net, config)
    content, styles, shape = prepare_images(config)
    seen_content, seen_styles = colour_inputs(config.preserve_colour, content, styles)
    objective = Objective(net, None if content is None else preprocess(seen_content, net.device),
                          [preprocess(s, net.device) for s in seen_styles], config)
    x0 = initial_image(config, seen_content, seen_styles, shape)
    history, start = [], time.perf_counter()
    bar = tqdm(total=config.iterations, disable=not progress, unit="it", desc=config.optimiser)

    def write(x):
        """Write the image of an iterate: under luminance-only colour preservation its
        luminance with the content's chroma (colour.colour_output)."""
        save_image(config.output, colour_output(config.preserve_colour, deprocess(x), content))

    def after_iteration(iteration, x, losses):
        history.append(dict(iteration=iteration, seconds=time.perf_counter() - start, **losses))
        shown = {k: f"{v:.3g}" for k, v in losses.items() if k in ("content", "style", "tv")}
        bar.set_postfix(total=f"{losses['total']:.4g}", **shown, refresh=False)
        bar.update(1)
        if config.save_every and iteration % config.save_every == 0:
            write(x)

    def finish(result: Synthesis) -> dict:
        """Write the image (and the log) of a result; returns the run's summary."""
        write(result.image)
        summary = dict(output=config.output, losses=result.losses, iterations=result.iterations,
                       stop=result.stop, completed=result.completed,
                       seconds=time.perf_counter() - start, alpha=objective.alpha,
                       beta=objective.beta, model_sha256=net.sha256,
                       config=dataclasses.asdict(config))
        if config.log:
            write_json(config.log, dict(summary, history=history))
        return summary

    try:
        result = synthesise(objective, x0, optimiser=config.optimiser,
                            iterations=config.iterations, callback=after_iteration)
    except KeyboardInterrupt as interrupt:  # Ctrl-C or SIGTERM: save the last iterate, stop
        bar.close()
        if getattr(interrupt, "result", None) is not None:  # else stopped before iteration 1
            interrupt.summary = finish(interrupt.result)
        raise
    bar.close()
    return finish(result)
