"""The papers' figures as tables, one per figure, numbered as each paper numbers them: the arXiv
paper (Gatys, Ecker & Bethge, arXiv 1508.06576: Figs. 1–3) and the CVPR paper ("Image Style
Transfer Using Convolutional Neural Networks", CVPR 2016: Figs. 1 and 3–7; its Fig. 2 is the
method's diagram, not a result). The arXiv Fig. 2 is the CVPR Fig. 3, with each paper's values.

Every panel is a Job: a name and the TransferConfig fields it changes from the paper's common
setting, which TransferConfig's defaults hold (average pooling, white-noise start, seed 0, content
layer conv4_2, style layers conv1_1 … conv5_1 with w_l = 1/5). Inputs are named by key (INPUTS);
a panel that names no content image is Neckarfront's (BASE_CONTENT). The CVPR paper resizes the
style image to the content's size, the arXiv one keeps its aspect (STYLE_SIZE).
"""
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from reproduce.errors import ReproduceError
from reproduce.method import STYLE_LOSSES
from reproduce.run.config import STYLE_LAYERS
from reproduce.run.regions import Region

PAPERS = ("arxiv", "cvpr")
Box = tuple[float, float, float, float]  # (x0, y0, x1, y1) of an image, relative: 0..1, y down
Crop = Box | Literal["square"]           # a box, or the image's centre square
STYLE_SIZE = {"arxiv": "keep", "cvpr": "content"}
BASE_CONTENT = "tubingen"

# key: (file, title, shipped in data/inputs). Images that are not in the public domain, or have
# no known free source, are read from a folder the user gives (--data DIR) under these names
# (data/README.md); any image may stand in, and the figure's caption then names it.
INPUTS = {
    "tubingen": ("tubingen.jpg", "Neckarfront, Tübingen", True),
    "shipwreck": ("shipwreck.jpg", "The Shipwreck of the Minotaur by J. M. W. Turner", True),
    "starry": ("starry_night.jpg", "The Starry Night by Vincent van Gogh", True),
    "scream": ("the_scream.jpg", "The Scream by Edvard Munch", True),
    "seated_nude": ("seated-nude.jpg", "Femme nue assise by Pablo Picasso", False),
    "composition_vii": ("composition_vii.jpg", "Composition VII by Wassily Kandinsky", True),
    "cottage": ("cottage.jpg", "a photograph of a stone cottage", False),
    "jesuiten": ("jesuiten_iii.jpg", "Jesuiten III by Lyonel Feininger", False),
    "london": ("london_day.jpg", "a photograph of London by day", False),
    "new_york": ("new_york_night.jpg", "a photograph of New York by night", False),
}


@dataclass(frozen=True)
class Preset:
    """Render size (long side, px) and L-BFGS-B iterations of every panel."""
    name: str
    size: int
    iterations: int


# full: the paper's setting for a GPU. The papers state no size (512 px took up to an hour on a
# K40); 2000 iterations is the `maxiter` of the authors' own code, which stops by count alone.
# quick: a preview that a 2-core CPU renders in minutes; its captions say it is not the paper's.
PRESETS = {"full": Preset("full", 512, 2000), "quick": Preset("quick", 128, 40)}

# Fig. 1. Top row: style reconstructions of The Starry Night (α = 0) from the style layers
# conv1_1 up to the column's layer. Bottom row: content reconstructions of Neckarfront (β = 0)
# from one layer, which the two versions choose differently.
FIG1 = (
    # letter  style layers up to  content layer arxiv  content layer cvpr
    ("a",     "conv1_1",          "conv1_1",           "conv1_2"),
    ("b",     "conv2_1",          "conv2_1",           "conv2_2"),
    ("c",     "conv3_1",          "conv3_1",           "conv3_2"),
    ("d",     "conv4_1",          "conv4_1",           "conv4_2"),
    ("e",     "conv5_1",          "conv5_1",           "conv5_2"),
)

# arXiv Fig. 2, CVPR Fig. 3: Neckarfront (A) in five styles, the painting inset, α/β per version.
FIG2 = (
    # letter  style              α/β arxiv  α/β cvpr
    ("B",     "shipwreck",       1e-3,      1e-3),
    ("C",     "starry",          1e-3,      8e-4),
    ("D",     "scream",          1e-3,      5e-3),
    ("E",     "seated_nude",     1e-4,      5e-4),
    ("F",     "composition_vii", 1e-4,      5e-4),
)

# arXiv Fig. 3: Neckarfront in the style of Composition VII. Rows: style layers conv1_1 up to the
# row's layer; columns: α/β.
FIG3_ROWS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
FIG3_RATIOS = (1e-5, 1e-4, 1e-3, 1e-2)

# CVPR Fig. 4, relative weighting: Neckarfront in the style of Composition VII, α/β growing from
# the top left (almost a texture of the painting) to the bottom right (almost the photograph).
# The exponents are one reading of the figure, whose panels are labelled by them.
FIG4_RATIOS = ((1e-4, 1e-3),
               (1e-2, 1e-1))

# CVPR Fig. 5, the content layer: a photograph of a stone cottage in the style of Jesuiten III,
# content matched at conv2_2 (the photograph's fine structure, the painting's texture laid over
# it) and at conv4_2 (the two merged); each shown whole with a box, and the box enlarged.
FIG5_LAYERS = ("conv2_2", "conv4_2")
FIG5_RATIO = 1e-3
FIG5_BOX = (0.45, 0.35, 0.75, 0.65)  # the enlarged region (x0, y0, x1, y1), relative: one reading

# CVPR Fig. 6, initialisation: Neckarfront in the style of The Starry Night from the content
# image (A), from the style image (B), and from four different white noises (C).
FIG6_RATIO = 1e-3
FIG6_STARTS = (("A", "content"), ("B", "style"))
FIG6_SEEDS = (0, 1, 2, 3)

# CVPR Fig. 7, photorealistic transfer: London by day in the style of New York by night, started
# from the content image. The ratio is one reading of the figure.
FIG7_RATIO = 1e-2
FIG7_START = "content"


@dataclass(frozen=True)
class Job:
    """One panel: its name and the TransferConfig fields it changes (content and styles by
    input key)."""
    name: str
    changes: dict[str, Any] = field(default_factory=dict)

    @property
    def content(self) -> str | None:
        content: str | None = self.changes.get("content", BASE_CONTENT)
        return content

    @property
    def styles(self) -> tuple[str, ...]:
        return tuple(self.changes.get("styles", ()))

    @property
    def regions(self) -> tuple[Region, ...]:
        """Spatial control's regions, their files as input keys."""
        return tuple(self.changes.get("regions", ()))

    @property
    def inputs(self) -> tuple[str, ...]:
        fine = self.changes.get("fine_style")
        return tuple(dict.fromkeys(((self.content,) if self.content else ()) + self.styles +
                                   tuple(f for r in self.regions for f in r.files()) +
                                   ((fine,) if fine else ())))


@dataclass(frozen=True)
class Cell:
    """A place in a figure: a Job or an input key, its letter, the input key of its inset, a
    title above it, a box drawn on it, and a crop (only that box, enlarged, or the centre
    square); boxes are relative (x0, y0, x1, y1)."""
    item: "Job | str"
    letter: str = ""
    inset: str | None = None
    title: str = ""
    box: Box | None = None
    crop: Crop | None = None


@dataclass(frozen=True)
class Figure:
    """A figure's layout (rows of Cells, row and column labels) and its caption's text; the
    largest long side of its panels where it has one of its own (else the preset's), and whether
    its panels are measured against their sources (the loss study's numbers and table)."""
    name: str
    paper: str
    caption: str
    rows: tuple[tuple[Cell, ...], ...]
    row_labels: tuple[str, ...] = ()
    col_labels: tuple[str, ...] = ()
    size: int | None = None
    measured: bool = False

    @property
    def cells(self) -> list[Cell]:
        return [cell for row in self.rows for cell in row]

    @property
    def jobs(self) -> list[Job]:
        """The panels to render, each once (a cell may show a panel another shows too)."""
        jobs = [cell.item for cell in self.cells if isinstance(cell.item, Job)]
        return list({id(job): job for job in jobs}.values())

    @property
    def inputs(self) -> tuple[str, ...]:
        """The input keys the figure shows: its panels' images, input cells and insets."""
        keys = [k for cell in self.cells for k in
                (*(cell.item.inputs if isinstance(cell.item, Job) else (cell.item,)), cell.inset)
                if k]
        return tuple(dict.fromkeys(keys))


def layers_up_to(last: str) -> tuple[str, ...]:
    """The style layers conv1_1 … `last` (Fig. 1 and Fig. 3's growing sets)."""
    return STYLE_LAYERS[:STYLE_LAYERS.index(last) + 1]


SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def ratio_text(ratio: float) -> str:
    """α/β as the paper writes it: 1e-3 → 10⁻³, 8e-4 → 8×10⁻⁴."""
    mantissa, exponent = f"{ratio:.0e}".split("e")
    power = f"10{str(int(exponent)).translate(SUPERSCRIPT)}"
    return power if mantissa == "1" else f"{mantissa}×{power}"


def ratio_math(ratio: float) -> str:
    """α/β in TeX for matplotlib's mathtext: 1e-3 → 10^{-3}, 8e-4 → 8\\times10^{-4}."""
    mantissa, exponent = f"{ratio:.0e}".split("e")
    power = f"10^{{{int(exponent)}}}"
    return power if mantissa == "1" else f"{mantissa}\\times{power}"


def version(paper: str) -> str:
    return {"arxiv": "arXiv", "cvpr": "CVPR"}[paper]


def fig1(paper: str) -> Figure:
    """Fig. 1: style reconstructions (top) and content reconstructions (bottom), a–e."""
    style, content = [Cell("starry")], [Cell("tubingen")]
    layers = []
    for letter, last, arxiv_layer, cvpr_layer in FIG1:
        layer = arxiv_layer if paper == "arxiv" else cvpr_layer
        style.append(Cell(Job(f"style_{letter}_{last}", dict(
            content=None, styles=("starry",), content_layers=(),
            style_layers=layers_up_to(last))), letter))
        content.append(Cell(Job(f"content_{letter}_{layer}", dict(
            content_layers=(layer,), style_layers=())), letter))
        layers.append(f"{layer} ({letter})")
    caption = (f"Figure 1 ({version(paper)} values). Top: style reconstructions of The Starry "
               f"Night by Vincent van Gogh (α = 0) from the style layers conv1_1 (a); conv1_1 "
               f"and conv2_1 (b); conv1_1 to conv3_1 (c); conv1_1 to conv4_1 (d); conv1_1 to "
               f"conv5_1 (e). Bottom: content reconstructions of Neckarfront, Tübingen (β = 0) "
               f"from {', '.join(layers)}.")
    return Figure("fig1", paper, caption, (tuple(style), tuple(content)))


def styles(paper: str) -> Figure:
    """arXiv Fig. 2, CVPR Fig. 3: the photograph (A) and five stylised panels (B–F) with the
    painting inset."""
    cells = [Cell("tubingen", "A")]
    shown = []
    for letter, style, arxiv_ratio, cvpr_ratio in FIG2:
        ratio = arxiv_ratio if paper == "arxiv" else cvpr_ratio
        cells.append(Cell(Job(f"tubingen_{style}", dict(styles=(style,), ratio=ratio)),
                          letter, style))
        shown.append(f"{INPUTS[style][1]} ({letter}, α/β = {ratio_text(ratio)})")
    number = 2 if paper == "arxiv" else 3
    caption = (f"Figure {number} ({version(paper)} values). A photograph of the Neckarfront in "
               f"Tübingen (A) rendered in the style of a painting, shown in the bottom left corner "
               f"of each panel: {'; '.join(shown)}.")
    return Figure(f"fig{number}", paper, caption,
                  tuple(tuple(cells[i:i + 2]) for i in range(0, 6, 2)))


def layers_and_ratios(paper: str) -> Figure:
    """arXiv Fig. 3: 5 style layer sets (rows) × 4 ratios α/β (columns), Composition VII."""
    rows = tuple(tuple(Cell(Job(f"{last}_{ratio:.0e}", dict(
        styles=("composition_vii",), style_layers=layers_up_to(last), ratio=ratio)))
        for ratio in FIG3_RATIOS) for last in FIG3_ROWS)
    caption = (f"Figure 3 ({version(paper)} conventions). Neckarfront, Tübingen in the style of "
               f"Composition VII by Wassily Kandinsky. Rows: the style is matched on the layers "
               f"conv1_1 up to the row's layer. Columns: the ratio α/β of content to style "
               f"weight, from {ratio_text(FIG3_RATIOS[0])} (left) to "
               f"{ratio_text(FIG3_RATIOS[-1])} (right).")
    return Figure("fig3", paper, caption, rows,
                  row_labels=tuple(f"conv1_1\nto {last}" if last != "conv1_1" else "conv1_1"
                                   for last in FIG3_ROWS),
                  col_labels=tuple(f"$\\alpha/\\beta = {ratio_math(r)}$" for r in FIG3_RATIOS))


# Colour preservation, beyond the 2015 paper (Gatys, Bethge, Hertzmann & Shechtman, "Preserving
# Color in Neural Artistic Style Transfer", arXiv 1606.05897, Fig. 1): the photograph, the
# painting, the plain transfer and the note's two methods, at Fig. 2 C's α/β.
COLOUR = (
    # letter  --preserve-colour  what the panel shows
    ("c",     None,              "the 2015 algorithm"),
    ("d",     "histogram",       "colour histogram matching"),
    ("e",     "luminance",       "luminance-only transfer"),
)
COLOUR_STYLE, COLOUR_RATIO = "starry", 1e-3


def colour(paper: str) -> Figure:
    """Colour preservation: content (a), style (b), then plain, histogram-matched and
    luminance-only transfers (c–e) with the same seed, layers and α/β."""
    cells = [Cell("tubingen", "a"), Cell(COLOUR_STYLE, "b")]
    for letter, method, _ in COLOUR:
        cells.append(Cell(Job(f"tubingen_{COLOUR_STYLE}_{method or 'plain'}", dict(
            styles=(COLOUR_STYLE,), ratio=COLOUR_RATIO, preserve_colour=method)), letter))
    shown = "; ".join(f"{what} ({letter})" for letter, _, what in COLOUR)
    caption = (f"Colour preservation ({version(paper)} conventions; beyond the 2015 paper: Gatys, "
               f"Bethge, Hertzmann & Shechtman 2016). Neckarfront, Tübingen (a) in the style of "
               f"{INPUTS[COLOUR_STYLE][1]} (b), α/β = {ratio_text(COLOUR_RATIO)}: {shown}.")
    return Figure("colour", paper, caption, (tuple(cells),))


def relative_weighting(paper: str) -> Figure:
    """CVPR Fig. 4: 2 × 2 panels of Neckarfront in the style of Composition VII, α/β growing from
    the top left to the bottom right, each panel titled with its ratio."""
    rows = tuple(tuple(Cell(Job(f"composition_vii_{ratio:.0e}", dict(
        styles=("composition_vii",), ratio=ratio)), title=f"$\\alpha/\\beta = {ratio_math(ratio)}$")
        for ratio in row) for row in FIG4_RATIOS)
    ratios = [ratio_text(r) for row in FIG4_RATIOS for r in row]
    caption = (f"Figure 4 ({version(paper)} values). Relative weighting of content and style: "
               f"Neckarfront, Tübingen in the style of Composition VII by Wassily Kandinsky, "
               f"with α/β = {', '.join(ratios[:-1])} and {ratios[-1]} from the top left to the "
               f"bottom right: more weight on the style gives almost a texture of the painting, "
               f"more on the content almost the photograph.")
    return Figure("fig4", paper, caption, rows)


def content_layer(paper: str) -> Figure:
    """CVPR Fig. 5: a photograph of a stone cottage (top row, the painting inset) in the style of
    Jesuiten III, content matched at conv2_2 (middle) and conv4_2 (bottom); left the whole image
    with a box, right that box enlarged."""
    rows = [(Cell("cottage", "A", "jesuiten", box=FIG5_BOX), Cell("cottage", crop=FIG5_BOX))]
    for letter, layer in zip("BC", FIG5_LAYERS):
        job = Job(f"cottage_{layer}", dict(content="cottage", styles=("jesuiten",),
                                          content_layers=(layer,), ratio=FIG5_RATIO))
        rows.append((Cell(job, letter, box=FIG5_BOX), Cell(job, crop=FIG5_BOX)))
    caption = (f"Figure 5 ({version(paper)} values). The content layer: a photograph of a stone "
               f"cottage (A) rendered in the style of Jesuiten III by Lyonel Feininger (inset), "
               f"α/β = {ratio_text(FIG5_RATIO)}, with the content matched at {FIG5_LAYERS[0]} "
               f"(B: the photograph's fine structure, the painting's texture laid over it) and at "
               f"{FIG5_LAYERS[1]} (C: the two merged). Right: the box of each image enlarged.")
    return Figure("fig5", paper, caption, tuple(rows), row_labels=("photograph", *FIG5_LAYERS),
                  col_labels=("whole image", "the box enlarged"))


def initialisation(paper: str) -> Figure:
    """CVPR Fig. 6: Neckarfront in the style of The Starry Night from the content image (A), the
    style image (B) and four white noises (C, 2 × 2 below)."""
    starts = tuple(Cell(Job(f"from_{init}", dict(styles=("starry",), ratio=FIG6_RATIO, init=init)),
                        letter) for letter, init in FIG6_STARTS)
    noises = tuple(Cell(Job(f"from_noise_seed{seed}", dict(styles=("starry",), ratio=FIG6_RATIO,
                                                          init="noise", seed=seed)),
                        "C" if seed == FIG6_SEEDS[0] else "") for seed in FIG6_SEEDS)
    caption = (f"Figure 6 ({version(paper)} values). Initialisation: Neckarfront, Tübingen in "
               f"the style of The Starry Night by Vincent van Gogh, α/β = "
               f"{ratio_text(FIG6_RATIO)}, the gradient descent started from the content image "
               f"(A), from the style image (B), and from four different white-noise images (C, "
               f"seeds {', '.join(map(str, FIG6_SEEDS))}).")
    return Figure("fig6", paper, caption, (starts, noises[:2], noises[2:]))  # C: 2 × 2


def photorealistic(paper: str) -> Figure:
    """CVPR Fig. 7: the style (New York by night) and the content (London by day) small above,
    the result large below."""
    job = Job("london_new_york", dict(content="london", styles=("new_york",), ratio=FIG7_RATIO,
                                      init=FIG7_START))
    caption = (f"Figure 7 ({version(paper)} values). Photorealistic style transfer: a photograph "
               f"of London by day (B) in the style of a photograph of New York by night (A), "
               f"α/β = {ratio_text(FIG7_RATIO)}, started from the content image (C).")
    return Figure("fig7", paper, caption, ((Cell("new_york", "A", title="style"),
                                            Cell("london", "B", title="content")),
                                           (Cell(job, "C", title="result"),)))


# The loss study (beyond the papers; docs/loss-study.md): texture synthesis (style only, from the
# same white noise) of The Starry Night's centre square with each style loss E_l over conv1_1 …
# conv5_1, w_l = 1/5; a row per pooling, average (the paper's) above and max (VGG-19's own)
# below, the source at the left. 256 px is the size of Gatys, Ecker & Bethge's texture paper
# (NIPS 2015): the study's panels are at most that, smaller with a smaller preset.
TEXTURE_SOURCE = "starry"
TEXTURE_SIZE = 256
TEXTURE_POOLINGS = (("avg", "average\npooling"), ("max", "max\npooling"))


def column_title(name: str, width: int = 12) -> str:
    """A name as a narrow column's title: broken after its first hyphen when it is long."""
    return name if len(name) <= width else name.replace("-", "-\n", 1)


def textures(paper: str) -> Figure:
    """The loss study: a texture of the source's centre square per style loss (columns) and
    pooling (rows), each measured against the source at its pooling (numbers under it)."""
    rows = []
    for r, (pooling, _) in enumerate(TEXTURE_POOLINGS):
        source = Cell(TEXTURE_SOURCE, crop="square", title="source" if r == 0 else "")
        rows.append((source, *(Cell(Job(f"{pooling}_{loss}", dict(
            content=None, styles=(TEXTURE_SOURCE,), content_layers=(), style_crop="square",
            pooling=pooling, style_loss=loss)), title=column_title(loss) if r == 0 else "")
            for loss in STYLE_LOSSES)))
    caption = (f"Loss study ({version(paper)} conventions; beyond the papers). Texture synthesis "
               f"(α = 0) of the centre square of {INPUTS[TEXTURE_SOURCE][1]} (left) from the same "
               f"white noise, with each style loss E_l over {', '.join(STYLE_LAYERS)} (w_l = "
               f"1/{len(STYLE_LAYERS)}): the paper's Gram loss (gram), maximum mean discrepancies "
               f"with linear, polynomial and Gaussian kernels and channel statistics (Li et al. "
               f"2017), and the sliced Wasserstein loss (Heitz et al. 2021). Top: average pooling "
               f"(the paper's); bottom: max pooling (VGG-19's own). Under each panel, against the "
               f"source at the same pooling: L_style, the paper's style loss; VGG, Ustyuzhaninov "
               f"et al.'s VGG-loss; SW, the sliced Wasserstein distance over 512 held-out "
               f"directions per layer; μ and σ, the relative errors of the channels' means and "
               f"deviations (docs/loss-study.md).")
    return Figure("textures", paper, caption, tuple(rows),
                  row_labels=tuple(label for _, label in TEXTURE_POOLINGS), size=TEXTURE_SIZE,
                  measured=True)


# Each paper's result figures, numbered as that paper numbers them (`make_figures.py all`).
PAPER_FIGURES = {"arxiv": ("fig1", "fig2", "fig3"),
                 "cvpr": ("fig1", "fig3", "fig4", "fig5", "fig6", "fig7")}
TABLES = {("arxiv", "fig1"): fig1, ("arxiv", "fig2"): styles, ("arxiv", "fig3"): layers_and_ratios,
          ("cvpr", "fig1"): fig1, ("cvpr", "fig3"): styles, ("cvpr", "fig4"): relative_weighting,
          ("cvpr", "fig5"): content_layer, ("cvpr", "fig6"): initialisation,
          ("cvpr", "fig7"): photorealistic}
# beyond the papers: for either, rendered only when named
EXTRA_FIGURES = {"colour": colour, "textures": textures}
FIGURE_NAMES = tuple(sorted({name for _, name in TABLES} | set(EXTRA_FIGURES)))


def figure(name: str, paper: str) -> Figure:
    """The figure called `name` of `paper` (its own numbering), or one line naming its figures."""
    if name in EXTRA_FIGURES:
        return EXTRA_FIGURES[name](paper)
    if (paper, name) not in TABLES:
        raise ReproduceError(f"the {version(paper)} paper has no result figure {name}: its "
                             f"figures are {', '.join(PAPER_FIGURES[paper])}"
                             f"{' (its Fig. 2 is the diagram of the method)' if paper == 'cvpr' else ''}")
    return TABLES[(paper, name)](paper)


def panel_size(figure: Figure | None, preset: Preset) -> int:
    """The long side of a figure's panels: the preset's, at most the figure's own size."""
    return min(preset.size, figure.size) if figure is not None and figure.size else preset.size


def setting(preset: Preset, figure: Figure | None = None) -> str:
    """The setting line of a caption: the paper's (for a figure of its own size, the full
    setting at that size), or a preset that says it is not."""
    full = PRESETS["full"]
    size, full_size = panel_size(figure, preset), panel_size(figure, full)
    title, name = ("Paper setting", "the paper's setting") if full_size == full.size else \
        ("Full setting", "the full setting")
    if (size, preset.iterations) == (full_size, full.iterations):
        return f"{title}: {size} px, {full.iterations} L-BFGS-B iterations."
    return (f"{preset.name.capitalize()} preset: {size} px, {preset.iterations} L-BFGS-B "
            f"iterations, not {name} ({full_size} px, {full.iterations}).")


def caption(figure: Figure, preset: Preset,
            inputs: Mapping[str, pathlib.Path | None] | None = None) -> str:
    """The figure's caption, the images given with --data that it shows (any image may stand in
    for the paper's: the caption names the file used), and the setting it was rendered with."""
    given = [f"{INPUTS[key][1]}: {path.name}" for key, path in (inputs or {}).items()
             if path is not None and key in figure.inputs and not INPUTS[key][2]]
    data = f"\nImages given with --data: {'; '.join(given)}." if given else ""
    return f"{figure.caption}{data}\n{setting(preset, figure)}"
