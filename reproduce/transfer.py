"""Style transfer as a run: check the parameters and outputs, load the network and images,
synthesise (reproduce.synthesis), and report, save and log."""
import dataclasses
import time

import numpy as np
import torch
from tqdm import tqdm

from reproduce.config import (  # noqa: F401 (the names others import from here)
    BETA,
    CONTENT_LAYERS,
    STYLE_LAYERS,
    TransferConfig,
    check_inputs,
    check_outputs,
    loss_weights,
    resolve_weights,
)
from reproduce.files import file_digest, write_json
from reproduce.image import deprocess, load_image, long_side_shape, preprocess, resize, save_image
from reproduce.memory import check_memory
from reproduce.network import load_network
from reproduce.objective import Objective, as_floats, check_layers, paper_losses  # noqa: F401
from reproduce.synthesis import OPTIMISERS, Synthesis, synthesise  # noqa: F401

NOISE_STD = 1.0  # white-noise start: N(0, 1) per pixel in the preprocessed (0..255 − mean) space


def read_image(path, long_side=None, config=None):
    """An input image as RGB float (load_image), within the config's pixel limit."""
    return load_image(path, long_side, max_pixels=(config or TransferConfig()).max_pixels)


def prepare_images(config: TransferConfig) -> tuple:
    """The content and style images (RGB float, resized as the config asks) and the output shape."""
    content = read_image(config.content, config.size, config) if config.content else None
    styles = [read_image(path, None, config) for path in config.styles]
    shape = content.shape[:2] if content is not None else \
        long_side_shape(styles[0].shape[:2], config.size)
    if config.style_size == "content":
        styles = [resize(s, shape) for s in styles]
    else:
        styles = [resize(s, long_side_shape(s.shape[:2], config.size)) for s in styles]
    return content, styles, shape


def initial_image(config: TransferConfig, content, styles, shape) -> torch.Tensor:
    """The start of the optimisation, preprocessed: white noise (seeded), content, style or a file."""
    if config.init == "noise":
        noise = np.random.default_rng(config.seed).standard_normal((1, 3, *shape)) * NOISE_STD
        return torch.from_numpy(noise.astype(np.float32))
    if config.init == "content":
        return preprocess(content)
    if config.init == "style":
        return preprocess(resize(styles[0], shape))
    return preprocess(resize(read_image(config.init, None, config), shape))


def used_layers(config: TransferConfig) -> tuple:
    """The layers the objective reads: content layers with a content image, style layers with
    style images."""
    return (tuple(config.content_layers) if config.content else ()) + \
        (tuple(config.style_layers) if config.styles else ())


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
    content, styles, shape = prepare_images(config)
    objective = Objective(net, None if content is None else preprocess(content, net.device),
                          [preprocess(s, net.device) for s in styles], config)
    x0 = initial_image(config, content, styles, shape)
    history, start = [], time.perf_counter()
    bar = tqdm(total=config.iterations, disable=not progress, unit="it", desc=config.optimiser)

    def after_iteration(iteration, x, losses):
        history.append(dict(iteration=iteration, seconds=time.perf_counter() - start, **losses))
        bar.set_postfix(total=f"{losses['total']:.4g}", content=f"{losses['content']:.3g}",
                        style=f"{losses['style']:.3g}", refresh=False)
        bar.update(1)
        if config.save_every and iteration % config.save_every == 0:
            save_image(config.output, deprocess(x))

    def finish(result: Synthesis) -> dict:
        """Write the image (and the log) of a result; returns the run's summary."""
        save_image(config.output, deprocess(result.image))
        summary = dict(output=config.output, losses=result.losses, iterations=result.iterations,
                       stop=result.stop, completed=result.completed,
                       seconds=time.perf_counter() - start, alpha=objective.alpha,
                       beta=objective.beta, model_sha256=file_digest(config.model),
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
