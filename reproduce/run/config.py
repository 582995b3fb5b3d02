"""Every parameter of a style transfer, its default, its help text and its rule, in one place.

`TransferConfig` is the only definition: the command lines (`python -m reproduce transfer`,
`... loss`) are generated from its fields, the figures override fields of one base config
(`dataclasses.replace`), and every value is checked here, once, when a config is made. The
choices come from the stages that implement them (poolings, optimisers, colour methods, image
suffixes), read as data: importing this module does not import torch.
"""
import dataclasses
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
from reproduce.network import POOLINGS, PRECISIONS, RECOMPUTE, VGG19, record_path
from reproduce.optim import DEFAULT_OPTIMISER, OPTIMISERS
from reproduce.run.regions import Region, parse_regions, region_styles

# The paper's choices (arXiv 1508.06576): content at conv4_2, style over conv1_1 … conv5_1.
CONTENT_LAYERS = ("conv4_2",)
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
STYLE_SIZES = ("content", "keep")
STYLE_CROPS = ("square",)  # beyond the paper: the painting's centre square (the texture study)
GUIDE_MODES = ("simple", "inside")  # beyond the paper: how a region's mask reaches each layer
FINE_LAYERS = ("conv1_1", "conv2_1")  # scale control's fine layers, the authors' at 512 px
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
              command: str = "both", metavar: str | None = None, repeat: bool = False,
              **kwargs: Any) -> Any:
    """A TransferConfig field with what its command-line flag needs: help text, flag name (else
    --field-name), a parser of the text, choices, the commands that take it, a metavar, and
    whether the flag is repeated (one value each time, a tuple of them)."""
    meta = dict(help=help, flag=flag, parse=parse, choices=choices, command=command,
                metavar=metavar, repeat=repeat)
    if callable(default):
        return field(default_factory=default, metadata=meta, **kwargs)
    return field(default=default, metadata=meta, **kwargs)


def floats(text: str) -> tuple[float, ...]:
    """'0.7,0.3' -> (0.7, 0.3)."""
    return tuple(float(v) for v in text.split(","))


def ints(text: str) -> tuple[int, ...]:
    """'512,1024' -> (512, 1024)."""
    return tuple(int(v) for v in text.split(","))


def names(text: str) -> tuple[str, ...]:
    """'conv1_1, conv2_1' -> ('conv1_1', 'conv2_1'); empty names are dropped."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


@dataclass
class TransferConfig:
    """One style transfer: the objective (images, layers, weights, pooling, α/β) and the run
    (size, start, iterations, seed, device, optimiser, outputs); beyond the 2015 paper, colour
    preservation, total variation and style scale, each off by default. Checked when made."""
    content: str | None = parameter(None, "content image (the photograph)", metavar="C")
    styles: tuple[str, ...] = parameter((), "style image (the painting); repeat for several",
                                        flag="--style", metavar="S", repeat=True)
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
    recompute: str = parameter(
        "auto", "recompute the network's stages in the backward pass instead of keeping their "
        "activations (about half the evaluation's memory, for one more forward pass): auto when "
        "the run would not fit without it, on, or off; f and its gradient are the same",
        choices=RECOMPUTE)
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
    # Beyond the 2015 paper: the controls of Gatys, Ecker, Bethge, Hertzmann & Shechtman, CVPR
    # 2017 (docs/controls.md), each off by default.
    regions: tuple[str, ...] = parameter(
        (), "beyond the paper: spatial control: a region NAME:CONTENT_MASK:STYLE_IMAGE"
        "[:STYLE_MASK] taking its style from STYLE_IMAGE (within STYLE_MASK, else all of it); "
        "masks are greyscale images, white inside; repeat per region, in place of --style",
        flag="--region", metavar="SPEC", repeat=True)
    guide_mode: str = parameter(
        "simple", "how a region's mask reaches each layer: simple, resized to the feature map; "
        "inside, only the positions whose receptive field lies wholly inside the region",
        choices=GUIDE_MODES)
    guide_grow: int = parameter(
        0, "grow (> 0) or erode (< 0) each layer's region by K positions, its mask taken at "
        "0.5 first (0: as carried)", parse=int, metavar="K")
    pyramid: tuple[int, ...] = parameter(
        (), "beyond the paper: coarse to fine: stage sizes S1,S2,..., each the side of a square "
        "of the image's area (H·W ≈ S², never above the content image's own), each stage "
        "started from the last one's result; in place of --size", parse=ints,
        command="transfer", metavar="S1,S2")
    pyramid_iterations: tuple[int, ...] = parameter(
        (), "iterations of each stage (the authors': 500,200; default: --iterations each)",
        parse=ints, command="transfer", metavar="K1,K2")
    fine_style: str | None = parameter(
        None, "beyond the paper: scale control: the painting whose fine scale (--fine-layers) "
        "is laid onto --style's coarse one, both colour-matched to the photograph first; the "
        "new style image is written beside --output", metavar="F")
    fine_layers: tuple[str, ...] = parameter(
        FINE_LAYERS, "the layers on which the new style image takes --fine-style's Gram "
        "matrices (the authors': to conv2_1 at 512 px, to conv4_1 at 1024)", parse=names,
        metavar="L1,...")
    fine_iterations: int = parameter(
        500, "L-BFGS-B iterations that make the new style image (the authors': 500)",
        parse=int, metavar="K")

    def __post_init__(self) -> None:
        check_config(self)

    @property
    def style_images(self) -> tuple[str, ...]:
        """The style images the run reads: --style, or the regions' (spatial control)."""
        return self.styles or region_styles(self.regions)

    @property
    def stages(self) -> list[tuple[int, int]]:
        """(size, iterations) of each stage: --pyramid's, or the one stage of --size."""
        if not self.pyramid:
            return [(self.size, self.iterations)]
        return list(zip(self.pyramid, self.pyramid_iterations or
                        [self.iterations] * len(self.pyramid)))


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
    _choice(config, "recompute", RECOMPUTE)
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
    check_controls(config)


def check_controls(config: TransferConfig) -> None:
    """The 2017 controls: regions that parse, with a content image and without --style; stages
    that grow, with their iterations; scale control with one coarse painting."""
    if config.regions:
        parse_regions(config.regions)
        if config.styles:
            raise ReproduceError(f"{flag('regions')} names each region's style image: leave out "
                                 f"{flag('styles')}")
        if not config.content:
            raise ReproduceError(f"{flag('regions')} needs a content image ({flag('content')}): "
                                 f"its masks are the content's")
        for name in ("style_blend", "fine_style"):
            if getattr(config, name) is not None:
                raise ReproduceError(f"{flag(name)} does not combine with {flag('regions')}")
        if config.style_loss != DEFAULT_STYLE_LOSS:
            raise ReproduceError(f"{flag('regions')} matches guided Gram matrices: "
                                 f"{flag('style_loss')} must be {DEFAULT_STYLE_LOSS}")
    _choice(config, "guide_mode", GUIDE_MODES)
    if isinstance(config.guide_grow, bool) or not isinstance(config.guide_grow, int):
        raise ReproduceError(f"{flag('guide_grow')} must be an integer, not {config.guide_grow!r}")
    for name, low in (("pyramid", 1), ("pyramid_iterations", 1)):
        values = getattr(config, name)
        if isinstance(values, str) or not all(isinstance(v, int) and not isinstance(v, bool)
                                              and v >= low for v in values):
            raise ReproduceError(f"{flag(name)} must be whole numbers >= {low}, not {values!r}")
    if any(b <= a for a, b in zip(config.pyramid, config.pyramid[1:])):
        raise ReproduceError(f"{flag('pyramid')}: coarse to fine, each stage larger than the "
                             f"one before, not {config.pyramid}")
    if config.pyramid_iterations and len(config.pyramid_iterations) != len(config.pyramid):
        raise ReproduceError(f"{flag('pyramid_iterations')} needs one count per stage of "
                             f"{flag('pyramid')} ({len(config.pyramid)}), not "
                             f"{len(config.pyramid_iterations)}")
    if config.fine_style is not None:
        if not config.content or len(config.styles) != 1:
            raise ReproduceError(f"{flag('fine_style')} needs a content image and one "
                                 f"{flag('styles')} (the coarse-scale painting)")
        _number(config, "fine_iterations", 1, integer=True)
        if isinstance(config.fine_layers, str) or not config.fine_layers:
            raise ReproduceError(f"{flag('fine_layers')} needs at least one layer name")


def input_paths(config: TransferConfig) -> list[tuple[str, str]]:
    """(flag, path) of every image file the run reads: content, styles, a start image, the
    regions' masks and style images, the fine-scale painting."""
    return ([(flag("content"), config.content)] if config.content else []) + \
        [(flag("styles"), path) for path in config.styles] + \
        ([] if config.init in INITS else [(flag("init"), config.init)]) + \
        [(flag("regions"), path) for region in parse_regions(config.regions)
         for path in region.files()] + \
        ([(flag("fine_style"), config.fine_style)] if config.fine_style else [])


def relocated(config: TransferConfig, where: Callable[[str], str]) -> TransferConfig:
    """The config with every input file's path replaced by where(path)."""
    regions = tuple(Region(r.name, where(r.mask), where(r.style),
                           None if r.style_mask is None else where(r.style_mask)).spec()
                    for r in parse_regions(config.regions))
    return dataclasses.replace(
        config, content=config.content and where(config.content),
        styles=tuple(map(where, config.styles)),
        init=config.init if config.init in INITS else where(config.init), regions=regions,
        fine_style=config.fine_style and where(config.fine_style))


def new_style_path(config: TransferConfig) -> str | None:
    """Where scale control writes its new style image: beside --output, `<output>_style.png`."""
    if config.fine_style is None:
        return None
    root, suffix = os.path.splitext(config.output)
    return f"{root}_style{suffix}"


def check_inputs(config: TransferConfig) -> None:
    """The images exist, and there is something to reconstruct: a content image, a style
    image or both."""
    if not (config.content or config.style_images):
        raise ReproduceError(f"give a content image ({flag('content')}), a style image "
                             f"({flag('styles')}), or both")
    for name, path in input_paths(config):
        if not os.path.isfile(path):
            raise ReproduceError(f"{name} {path}: no such image")
    if config.init == "content" and not config.content:
        raise ReproduceError(f"{flag('init')} content needs a content image")
    if config.init == "style" and not config.style_images:
        raise ReproduceError(f"{flag('init')} style needs a style image")


def check_outputs(config: TransferConfig) -> None:
    """Fail now, not after the optimisation, if the image or the log could not be written, or
    would overwrite an input (the network, its record, an image), links followed."""
    check_output_file(config.output, flag("output"), IMAGE_SUFFIXES)
    outputs = {flag("output"): config.output}
    new_style = new_style_path(config)
    if new_style is not None:
        check_output_file(new_style, f"{flag('fine_style')}'s new style image", IMAGE_SUFFIXES)
        outputs[f"{flag('fine_style')}'s new style image"] = new_style
    if config.log:
        check_output_file(config.log, flag("log"), (".json",))
        outputs[flag("log")] = config.log
    inputs = {flag("model"): config.model, f"{flag('model')}'s record": record_path(config.model),
              **{f"{name} ({i})" if name in (flag("styles"), flag("regions")) else name: path
                 for i, (name, path) in enumerate(input_paths(config))}}
    check_apart(outputs, inputs)
