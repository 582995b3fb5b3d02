"""The paper's figures as tables, one per figure, numbered as in the arXiv paper (Gatys, Ecker &
Bethge, arXiv 1508.06576; CVPR 2016 as "Image Style Transfer Using Convolutional Neural
Networks").

Every panel is a Job: a name and the TransferConfig fields it changes from the paper's common
setting, which TransferConfig's defaults hold (average pooling, white-noise start, seed 0, content
layer conv4_2, style layers conv1_1 … conv5_1 with w_l = 1/5). Inputs are named by key (INPUTS);
a panel that names no content image is Neckarfront's (BASE_CONTENT). The CVPR paper resizes the
style image to the content's size, the arXiv one keeps its aspect (STYLE_SIZE).
"""
from dataclasses import dataclass, field
from typing import Any

from reproduce.run.config import STYLE_LAYERS

PAPERS = ("arxiv", "cvpr")
STYLE_SIZE = {"arxiv": "keep", "cvpr": "content"}
BASE_CONTENT = "tubingen"

# key: (file, title, shipped in data/inputs). Femme nue assise is not in the public domain: it is
# read from a folder the user gives (--data DIR).
INPUTS = {
    "tubingen": ("tubingen.jpg", "Neckarfront, Tübingen", True),
    "shipwreck": ("shipwreck.jpg", "The Shipwreck of the Minotaur by J. M. W. Turner", True),
    "starry": ("starry_night.jpg", "The Starry Night by Vincent van Gogh", True),
    "scream": ("the_scream.jpg", "The Scream by Edvard Munch", True),
    "seated_nude": ("seated-nude.jpg", "Femme nue assise by Pablo Picasso", False),
    "composition_vii": ("composition_vii.jpg", "Composition VII by Wassily Kandinsky", True),
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

# Fig. 2 (CVPR Fig. 3): Neckarfront (A) in five styles, the painting inset, α/β per version.
FIG2 = (
    # letter  style              α/β arxiv  α/β cvpr
    ("B",     "shipwreck",       1e-3,      1e-3),
    ("C",     "starry",          1e-3,      8e-4),
    ("D",     "scream",          1e-3,      5e-3),
    ("E",     "seated_nude",     1e-4,      5e-4),
    ("F",     "composition_vii", 1e-4,      5e-4),
)

# Fig. 3: Neckarfront in the style of Composition VII. Rows: style layers conv1_1 up to the
# row's layer; columns: α/β.
FIG3_ROWS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
FIG3_RATIOS = (1e-5, 1e-4, 1e-3, 1e-2)


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
    def inputs(self) -> tuple[str, ...]:
        return ((self.content,) if self.content else ()) + self.styles


@dataclass(frozen=True)
class Cell:
    """A place in a figure: a Job or an input key, its letter, the input key of its inset."""
    item: "Job | str"
    letter: str = ""
    inset: str | None = None


@dataclass(frozen=True)
class Figure:
    """A figure's layout (rows of Cells, row and column labels) and its caption's text."""
    name: str
    paper: str
    caption: str
    rows: tuple[tuple[Cell, ...], ...]
    row_labels: tuple[str, ...] = ()
    col_labels: tuple[str, ...] = ()

    @property
    def cells(self) -> list[Cell]:
        return [cell for row in self.rows for cell in row]

    @property
    def jobs(self) -> list[Job]:
        return [cell.item for cell in self.cells if isinstance(cell.item, Job)]

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


def fig2(paper: str) -> Figure:
    """Fig. 2: the photograph (A) and five stylised panels (B–F) with the painting inset."""
    cells = [Cell("tubingen", "A")]
    shown = []
    for letter, style, arxiv_ratio, cvpr_ratio in FIG2:
        ratio = arxiv_ratio if paper == "arxiv" else cvpr_ratio
        cells.append(Cell(Job(f"tubingen_{style}", dict(styles=(style,), ratio=ratio)),
                          letter, style))
        shown.append(f"{INPUTS[style][1]} ({letter}, α/β = {ratio_text(ratio)})")
    styles = "; ".join(shown)
    caption = (f"Figure 2 ({version(paper)} values). A photograph of the Neckarfront in Tübingen "
               f"(A) rendered in the style of a painting, shown in the bottom left corner of "
               f"each panel: {styles}.")
    return Figure("fig2", paper, caption, tuple(tuple(cells[i:i + 2]) for i in range(0, 6, 2)))


def fig3(paper: str) -> Figure:
    """Fig. 3: 5 style layer sets (rows) × 4 ratios α/β (columns), Composition VII."""
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


FIGURES = {"fig1": fig1, "fig2": fig2, "fig3": fig3, "colour": colour}
PAPER_FIGURES = ("fig1", "fig2", "fig3")  # `make_figures.py all`: the 2015 paper's figures


def setting(preset: Preset) -> str:
    """The setting line of a caption: the paper's, or a preset that says it is not."""
    full = PRESETS["full"]
    if (preset.size, preset.iterations) == (full.size, full.iterations):
        return f"Paper setting: {full.size} px, {full.iterations} L-BFGS-B iterations."
    return (f"{preset.name.capitalize()} preset: {preset.size} px, {preset.iterations} L-BFGS-B "
            f"iterations, not the paper's setting ({full.size} px, {full.iterations}).")


def caption(figure: Figure, preset: Preset) -> str:
    """The figure's caption and the setting it was rendered with."""
    return f"{figure.caption}\n{setting(preset)}"
