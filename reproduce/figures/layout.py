"""A figure set as in the paper with matplotlib: a grid of panels with their letters, the
painting inset in a corner, labels beside the rows and above the columns (mathtext for α/β),
and the caption below; written as PNG and as vector PDF."""
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from reproduce.files import PathLike, atomic_path
from reproduce.image import Array

WIDTH_IN = 6.9         # a two-column paper's text width, inches
GAP_IN = 0.05          # between panels
LABEL_IN = 0.75        # left margin when rows are labelled
TITLE_IN = 0.25        # top margin when columns are labelled
CAPTION_LINE_IN = 0.16
FONT_PT = 8
CHAR_EM = 0.52         # mean width of a character of the caption, in em (for wrapping)
DPI = 200
GREY = 0.8             # a panel left out


@dataclass
class Tile:
    """One place in the grid: an RGB image (0–255; None for a panel left out, drawn grey),
    its letter, and an image shown small in its bottom left corner."""
    image: Array | None = None
    letter: str = ""
    inset: Array | None = None


def as_rgb8(image: Array) -> Array:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def draw(rows: Sequence[Sequence[Tile]], row_labels: Sequence[str] = (),
         col_labels: Sequence[str] = (), caption: str = "") -> Figure:
    """The figure: `rows` of Places in equal boxes of the largest image's aspect."""
    shapes = [p.image.shape[:2] for row in rows for p in row if p.image is not None]
    aspect = max(h for h, _ in shapes) / max(w for _, w in shapes) if shapes else 0.75
    ncols, nrows = max(len(row) for row in rows), len(rows)
    left = LABEL_IN if row_labels else 0.0
    top = TITLE_IN if col_labels else 0.0
    box_w = (WIDTH_IN - left - (ncols - 1) * GAP_IN) / ncols
    box_h = box_w * aspect
    chars = int(WIDTH_IN * 72 / (FONT_PT * CHAR_EM))
    lines = [line for para in caption.split("\n") for line in textwrap.wrap(para, chars) or [""]]
    grid_h = top + nrows * box_h + (nrows - 1) * GAP_IN
    height = grid_h + (0.15 + len(lines) * CAPTION_LINE_IN if lines else 0.0)
    figure = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
    for r, row in enumerate(rows):
        for c, place in enumerate(row):
            x = (left + c * (box_w + GAP_IN)) / WIDTH_IN
            y = (height - top - (r + 1) * box_h - r * GAP_IN) / height
            axes = figure.add_axes((x, y, box_w / WIDTH_IN, box_h / height))
            panel(axes, place)
            if r == 0 and c < len(col_labels):
                axes.set_title(col_labels[c], fontsize=FONT_PT, pad=3)
            if c == 0 and r < len(row_labels):
                axes.text(-0.06, 0.5, row_labels[r], transform=axes.transAxes, ha="right",
                          va="center", fontsize=FONT_PT, multialignment="center")
    if lines:
        figure.text(0.0, (height - grid_h - 0.1) / height, "\n".join(lines), ha="left",
                    va="top", fontsize=FONT_PT, linespacing=1.25)
    return figure


def panel(axes: Axes, place: Tile) -> None:
    """One panel: its image filling the box (aspect kept, centred), inset and letter."""
    axes.set_axis_off()
    if place.image is None:
        axes.add_patch(Rectangle((0, 0), 1, 1, color=str(GREY), transform=axes.transAxes))
    else:
        axes.imshow(as_rgb8(place.image), interpolation="lanczos")
    if place.inset is not None:
        h, w = place.inset.shape[:2]
        width = 0.3
        height = width * h / w * axes.bbox.width / axes.bbox.height
        inset = axes.inset_axes((0, 0, width, height))
        inset.imshow(as_rgb8(place.inset), interpolation="lanczos")
        inset.set_xticks([])
        inset.set_yticks([])
        for spine in inset.spines.values():
            spine.set_edgecolor("white")
            spine.set_linewidth(1.5)
    if place.letter:
        axes.text(0.0, 1.0, place.letter, transform=axes.transAxes, ha="left", va="top",
                  fontsize=FONT_PT + 2, fontweight="bold",
                  bbox=dict(boxstyle="square,pad=0.25", facecolor="white", edgecolor="none"))


def save(figure: Figure, png: PathLike, pdf: PathLike) -> None:
    """Write the figure as PNG and as vector PDF, each atomically."""
    for path, kind in ((png, "png"), (pdf, "pdf")):
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=kind, dpi=DPI, metadata=metadata(kind))


def metadata(kind: str) -> dict[str, None]:
    """No creation date, so the same figure gives the same file."""
    return {"Software": None} if kind == "png" else {"CreationDate": None}
