"""Every parameter of a style transfer, its default, its help text and its rule, in one place.

`TransferConfig` is the only definition: the command lines (`python -m reproduce transfer`,
`... loss`) are generated from its fields, the figures override fields of one base config
(`dataclasses.replace`), and every value is checked here, once, when a config is made. The
choices come from the stages that implement them (poolings, optimisers, colour methods, image
suffixes), read as data: importing this module does not import torch.
"""
import math
import numbers
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reproduce.errors import ReproduceError
from reproduce.files import check_apart, check_output_file
from reproduce.image import IMAGE_SUFFIXES, MAX_PIXELS
from reproduce.method import DEFAULT_STYLE_LOSS, MMD_C, STYLE_LOSSES
from reproduce.method.colour import COLOUR_METHODS
from reproduce.network import POOLINGS, PRECISIONS, VGG19, record_path
from reproduce.optim import DEFAULT_OPTIMISER, OPTIMISERS

# The paper's choices (arXiv 1508.06576): content at conv4_2, style over conv1_1 … conv5_1.
CONTENT_LAYERS = ("conv4_2",)
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
STYLE_SIZES = ("content", "keep")
STYLE_CROPS = ("square",)  # beyond the paper: the painting's centre square (the texture study)
INITS = ("noise", "content", "style")  # or the path of an image
# fields that say where a run writes and what it runs on, not what it computes: set by whoever
# runs it (never a grid file), and no part of a figure panel's parameters
RUN_FIELDS = ("output", "log", "save_every", "device")


def default_device() -> str:
    """cuda when torch sees a GPU, else cpu. torch is imported here, when a config is made
    without a device, so that importing this module stays torch-free."""
    from reproduce.network.runtime import default_device as torch_default
    return torch_default()


def parameter(default: Any, help: str, flag: str | None = None,
              parse: Callable[[str], Any] | None = None, choices: Sequence[Any] | None = None,
              command: str = "both", metavar: str | None = None, **kwargs: Any) -> Any:
    """A TransferConfig field with what its command-line flag needs: help text, flag name (else
    --field-name), a parser of the text, choices, the commands that take it, and a metavar."""
    meta = dict(help=help, flag=flag, parse=parse, choices=choices, command=command,
                metavar=metavar)
    if callable(default):
        return field(default_factory=default, metadata=meta, **kwargs)
    return field(default=default, metadata=meta, **kwargs)


def floats(text: str) -> tuple[float, ...]:
    """'0.7,0.3' -> (0.7, 0.3)."""
    return tuple(float(v) for v in text.split(","))


def names(text: str) -> tuple[str, ...]:
    """'conv1_1, conv2_1' -> ('conv1_1', 'conv2_1'); empty names are dropped."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


@dataclass
class TransferConfig:
    """One style transfer: the objective (images, layers, weights, pooling, α/β) and the run
    (size, start, iterations, seed, device, optimiser, outputs); beyond the 2015 paper, colour
    preservation, total variation and style scale, each off by default. Checked when made."""
    content: str | None = parameter(None, "content image (the photograph)", metavar="C")
    styles: tuple[str, ...] = parameter((), "style image (the painting); repeat for several", flag="--style",
                           metavar="S")
    style_blend: tuple[float, ...] | None = parameter(
        None, "blend weights of the style images' Gram targets (normalised)", parse=floats,
        metavar="W1,W2")
    model: str = parameter(str(VGG19), "converted VGG-19 network file (.onnx)", metavar="M")
    output: str = parameter("out.png", "image to write", command="transfer", metavar="OUT.png")
    size: int = parameter(512, "long side of the content image in pixels", parse=int, metavar="N")
    ratio: float = parameter(1e-3, "α/β of eq. 7 (see --alpha, --beta)", parse=float, metavar="R")
    alpha: float | None = parameter(
        None, "content weight α (eq. 7); 0: pure style; alone: β = α / ratio", parse=float,
        metavar="A")
    beta: float | None = parameter(
        None, "style weight β (eq. 7); 0: pure content; alone: α = ratio · β", parse=float,
        metavar="B")
    content_layers: tuple[str, ...] = parameter(CONTENT_LAYERS, "content layers, comma-separated",
                                                parse=names, metavar="L1,...")
    style_layers: tuple[str, ...] = parameter(STYLE_LAYERS, "style layers, comma-separated", parse=names,
                                   metavar="L1,...")
    style_weights: tuple[float, ...] | None = parameter(
        None, "w_l per style layer, comma-separated (default: 1 / number of style layers)",
        parse=floats, metavar="W1,...")
    pooling: str = parameter("avg", "pooling in the network (the paper's figures: avg)",
                             choices=POOLINGS)
    init: str = parameter("noise", "start: noise (seeded white noise), content, style, or an "
                          "image path", command="transfer", metavar="START")
    iterations: int = parameter(1000, "L-BFGS-B iterations", parse=int, command="transfer",
                                 metavar="K")
    seed: int = parameter(0, "seed of the white-noise start and of a style loss's random draws "
                          "(mmd-gaussian, sliced-wasserstein) (>= 0)", parse=int, metavar="N")
    device: str = parameter(default_device, "cpu, cuda or cuda:N (default: cuda when torch sees "
                            "one, else cpu)", metavar="D")
    save_every: int = parameter(0, "also write the current image every K iterations (0: never)",
                                parse=int, command="transfer", metavar="K")
    log: str | None = parameter(None, "write parameters and per-iteration losses to this .json",
                                command="transfer", metavar="LOG.json")
    style_size: str = parameter(
        "content", "content: style resized to the content's size (cvpr); keep: its own aspect "
        "at --size (arxiv)", choices=STYLE_SIZES)
    optimiser: str = parameter(
        DEFAULT_OPTIMISER, "L-BFGS-B, as the authors ran it (maxcor 20, stopped by the iteration count): "
        "device, the algorithm of scipy's L-BFGS-B 3.0 iterate for iterate with its state on the "
        "network's device (faster: nothing crosses to the host but scalars); scipy, scipy's own, "
        "on the host (the reference the tests hold device to)",
        choices=tuple(OPTIMISERS), command="transfer")
    precision: str = parameter(
        "float32", "the network's arithmetic: float32, as Caffe computed, or float64 (to tell "
        "float32's rounding from a real difference)", choices=PRECISIONS)
    max_pixels: int = parameter(
        MAX_PIXELS, "largest input image accepted, width × height in pixels; larger ones are "
        "refused before decoding", parse=int, metavar="N")
    # Beyond the 2015 paper, each off by default (the paper's objective and figures unchanged).
    preserve_colour: str | None = parameter(
        None, "beyond the paper: keep the photograph's colours (Gatys et al. 2016): histogram: "
        "the style's RGB mean and covariance matched to the content's; luminance: transfer on "
        "luminance only, the content's chroma kept (default: off)", choices=COLOUR_METHODS)
    tv_weight: float = parameter(
        0.0, "beyond the paper: weight λ of neural-style's total variation; λ·TV(x) is added to "
        "eq. 7, 0 leaves it out", parse=float, metavar="W")
    style_scale: float = parameter(
        1.0, "beyond the paper: the painting resized to S × the size --style-size gives it "
        "(neural-style's -style_scale)", parse=float, metavar="S")
    style_crop: str | None = parameter(
        None, "beyond the paper: square takes each painting's centre square before it is sized "
        "(the loss study's texture source; default: the whole painting)", choices=STYLE_CROPS)
    style_loss: str = parameter(
        DEFAULT_STYLE_LOSS, "beyond the paper: the style loss E_l: gram, the paper's eq. 4; "
        "mmd-linear, mmd-poly, mmd-gaussian, stats (Li et al. 2017); sliced-wasserstein (Heitz "
        "et al. 2021); docs/loss-study.md", choices=tuple(STYLE_LOSSES), metavar="NAME")
    mmd_c: float = parameter(
        MMD_C, "beyond the paper: c of mmd-poly's kernel (xᵀy + c)², >= 0 (0: gram exactly)",
        parse=float, metavar="C")

    def __post_init__(self) -> None:
        check_config(self)


def flag(name: str) -> str:
    """The command-line flag of a TransferConfig field."""
    meta = TransferConfig.__dataclass_fields__[name].metadata
    return meta["flag"] or "--" + name.replace("_", "-")


def _number(config: TransferConfig, name: str, low: float, strict: bool = False,
            integer: bool = False, optional: bool = False) -> None:
    value = getattr(config, name)
    if value is None and optional:
        return
    kind = "an integer" if integer else "a finite number"
    bound = f"> {low:g}" if strict else f">= {low:g}"
    ok = isinstance(value, numbers.Integral if integer else numbers.Real) and \
        not isinstance(value, bool) and math.isfinite(value)
    if not ok or not (value > low if strict else value >= low):
        raise ReproduceError(f"{flag(name)} must be {kind} {bound}, not {value!r}")


def _weights(config: TransferConfig, name: str, count: int, what: str, positive: bool) -> None:
    values = getattr(config, name)
    if values is None:
        return
    values = tuple(values)
    if len(values) != count:
        raise ReproduceError(f"{flag(name)} needs one weight per {what} ({count}), not {len(values)}")
    if not all(isinstance(v, numbers.Real) and math.isfinite(v) for v in values):
        raise ReproduceError(f"{flag(name)}: weights must be finite numbers, not {values}")
    if min(values) < 0 or (positive and min(values) <= 0) or not sum(values) > 0:
        sign = "positive" if positive else "non-negative, not all zero"
        raise ReproduceError(f"{flag(name)}: weights must be {sign}, not {values}")


def _choice(config: TransferConfig, name: str, choices: Sequence[str]) -> None:
    value = getattr(config, name)
    if value not in choices:
        raise ReproduceError(f"{flag(name)} must be one of {', '.join(choices)}, not {value!r}")


def check_config(config: TransferConfig) -> None:
    """Reject parameters the paper's method cannot run with, in one line naming the flag."""
    _number(config, "size", 1, integer=True)
    _number(config, "iterations", 1, integer=True)
    _number(config, "seed", 0, integer=True)
    _number(config, "save_every", 0, integer=True)
    _number(config, "max_pixels", 1, integer=True)
    _number(config, "ratio", 0, strict=True)
    _number(config, "alpha", 0, optional=True)
    _number(config, "beta", 0, optional=True)
    _number(config, "tv_weight", 0)
    _number(config, "style_scale", 0, strict=True)
    _number(config, "mmd_c", 0)
    if config.alpha == 0 and config.beta == 0:
        raise ReproduceError(f"{flag('alpha')} and {flag('beta')} are both 0: nothing to minimise")
    for name, used in (("content_layers", config.content), ("style_layers", config.styles)):
        layers = getattr(config, name)  # may be empty only where its term is left out
        if isinstance(layers, str) or (used and not layers) or \
                not all(isinstance(l, str) and l for l in layers):
            raise ReproduceError(f"{flag(name)} needs at least one layer name, not {layers!r}")
        twice = next((l for i, l in enumerate(layers) if l in layers[:i]), None)
        if twice is not None:  # a layer twice would count its target twice and keep one weight
            raise ReproduceError(f"{flag(name)} names {twice} twice; name each layer once")
    _weights(config, "style_blend", len(config.styles), "style image", positive=True)
    _weights(config, "style_weights", len(config.style_layers), "style layer", positive=False)
    _choice(config, "pooling", POOLINGS)
    _choice(config, "style_size", STYLE_SIZES)
    _choice(config, "optimiser", tuple(OPTIMISERS))
    _choice(config, "precision", PRECISIONS)
    if config.style_crop is not None:
        _choice(config, "style_crop", STYLE_CROPS)
    _choice(config, "style_loss", tuple(STYLE_LOSSES))
    if config.mmd_c != MMD_C and config.style_loss != "mmd-poly":
        raise ReproduceError(f"{flag('mmd_c')} is the c of {flag('style_loss')} mmd-poly, not of "
                             f"{config.style_loss}")
    if config.style_loss == "mmd-gaussian" and len(config.styles) > 1:
        raise ReproduceError(f"{flag('style_loss')} mmd-gaussian takes one style image: its "
                             f"linear-time estimate pairs single positions, not a blend")
    if config.preserve_colour is not None:
        _choice(config, "preserve_colour", COLOUR_METHODS)
        if not config.content:
            raise ReproduceError(f"{flag('preserve_colour')} {config.preserve_colour} needs a "
                                 f"content image ({flag('content')})")


def input_paths(config: TransferConfig) -> list[tuple[str, str]]:
    """(flag, path) of every image file the run reads."""
    return ([(flag("content"), config.content)] if config.content else []) + \
        [(flag("styles"), path) for path in config.styles] + \
        ([] if config.init in INITS else [(flag("init"), config.init)])


def check_inputs(config: TransferConfig) -> None:
    """The images exist, and there is something to reconstruct: a content image, a style
    image or both."""
    if not (config.content or config.styles):
        raise ReproduceError(f"give a content image ({flag('content')}), a style image "
                             f"({flag('styles')}), or both")
    for name, path in input_paths(config):
        if not os.path.isfile(path):
            raise ReproduceError(f"{name} {path}: no such image")
    if config.init == "content" and not config.content:
        raise ReproduceError(f"{flag('init')} content needs a content image")
    if config.init == "style" and not config.styles:
        raise ReproduceError(f"{flag('init')} style needs a style image")


def check_outputs(config: TransferConfig) -> None:
    """Fail now, not after the optimisation, if the image or the log could not be written, or
    would overwrite an input (the network, its record, an image), links followed."""
    check_output_file(config.output, flag("output"), IMAGE_SUFFIXES)
    outputs = {flag("output"): config.output}
    if config.log:
        check_output_file(config.log, flag("log"), (".json",))
        outputs[flag("log")] = config.log
    inputs = {flag("model"): config.model, f"{flag('model')}'s record": record_path(config.model),
              **{f"{name} ({i})" if name == flag("styles") else name: path
                 for i, (name, path) in enumerate(input_paths(config))}}
    check_apart(outputs, inputs)
