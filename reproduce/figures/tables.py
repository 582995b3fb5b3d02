"""What every figure is made of: the input images (INPUTS), the presets, a panel (Job: the
TransferConfig fields it changes from its paper's common setting), a place in a figure (Cell), a
figure (its rows, labels and caption text), and the caption's setting line. The papers' own
tables are beside it (paper2015, paper2017, beyond); papers.py numbers them as each paper does.

Every panel changes the paper's common setting, which TransferConfig's defaults hold (average
pooling, white-noise start, seed 0, content layer conv4_2, style layers conv1_1 … conv5_1 with
w_l = 1/5). Inputs are named by key (INPUTS); a panel that names no content image is
Neckarfront's (BASE_CONTENT). Each paper version sizes the style image its own way (STYLE_SIZE).
"""
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from reproduce.run.config import STYLE_LAYERS
from reproduce.run.regions import Region

PAPERS = ("arxiv", "cvpr", "2017")
Box = tuple[float, float, float, float]  # (x0, y0, x1, y1) of an image, relative: 0..1, y down
Crop = Box | Literal["square"]           # a box, or the image's centre square
STYLE_SIZE = {"arxiv": "keep", "cvpr": "content", "2017": "keep"}
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
    # the 2017 controls: van Gogh's paintings and masks made for this project (data/README.md)
    "wheat_field": ("wheat_field_with_cypresses.jpg",
                    "A Wheatfield, with Cypresses by Vincent van Gogh", True),
    "rhone": ("starry_night_over_the_rhone.jpg", "Starry Night over the Rhône by Vincent van Gogh",
              True),
    "tubingen_sky": ("tubingen_sky.png", "the sky of the Neckarfront photograph (a mask)", True),
    "tubingen_ground": ("tubingen_ground.png", "all but the sky of the Neckarfront photograph "
                        "(a mask)", True),
    # the 2017 paper's own images, under the authors' file names (leongatys/NeuralImageSynthesis,
    # Images/): masks `<image>_<region>.jpg`, white inside
    **{key: (f"{key}.jpg", f"the 2017 paper's {key}.jpg", False) for key in (
        "fig2_content", "fig2_content_sky", "fig2_content_nosky", "fig2_style1",
        "fig2_style1_sky", "fig2_style1_nosky", "fig2_style2", "fig2_style2_sky",
        "fig2_style2_nosky", "fig4_content", "fig4_style2", "fig4_style3", "fig5_content",
        "fig5_style1")},
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
    title above it, a box drawn on it, a crop (only that box, enlarged, or the centre square;
    boxes are relative: x0, y0, x1, y1), and the part of a panel it shows."""
    item: "Job | str"
    letter: str = ""
    inset: str | None = None
    title: str = ""
    box: Box | None = None
    crop: Crop | None = None
    part: str = ""  # "style": a panel's scale control's new style image, not its result


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
    setting: str = ""  # the caption's setting line where the figure sets its own sizes

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
    """The paper as a caption names it."""
    return {"arxiv": "arXiv", "cvpr": "CVPR", "2017": "CVPR 2017"}[paper]


def column_title(name: str, width: int = 12) -> str:
    """A name as a narrow column's title: broken after its first hyphen when it is long."""
    return name if len(name) <= width else name.replace("-", "-\n", 1)


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
    return f"{figure.caption}{data}\n{figure.setting or setting(preset, figure)}"
