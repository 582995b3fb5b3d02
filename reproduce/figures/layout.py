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

from reproduce.figures.tables import Box, Crop
from reproduce.files import PathLike, atomic_path
from reproduce.image import Array
from reproduce.image.files import centre_square

WIDTH_IN = 6.9         # a two-column paper's text width, inches
GAP_IN = 0.05          # between panels
LABEL_IN = 0.75        # left margin when rows are labelled, at least
LABEL_EM = 0.62        # widest mean width of a label's character, in em (for that margin)
LABEL_PAD_PT = 4       # between a row's label and its first panel
TITLE_IN = 0.25        # top margin when columns are labelled
CAPTION_LINE_IN = 0.16
NOTE_PT = 5.5          # the notes under panels
NOTE_LINE_IN = 0.095   # a line of a note
FONT_PT = 8
CHAR_EM = 0.52         # mean width of a character of the caption, in em (for wrapping)
DPI = 200
GREY = 0.8             # a panel left out




@dataclass
class Tile:
    """One place in the grid: an RGB image (0–255; None for a panel left out, drawn grey), its
    letter, an image shown small in its bottom left corner, a title above it, a box drawn on it,
    a crop (only that box of the image, enlarged, or its centre square), and a note set under
    it (lines of small type: numbers measured on the panel)."""
    image: Array | None = None
    letter: str = ""
    inset: Array | None = None
    title: str = ""
    box: Box | None = None
    crop: Crop | None = None
    note: str = ""


def as_rgb8(image: Array) -> Array:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def cropped(image: Array, box: Crop) -> Array:
    """The box of an image (relative coordinates), at least one pixel; or its centre square."""
    if box == "square":
        return centre_square(image)
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    top, left = min(int(y0 * h), h - 1), min(int(x0 * w), w - 1)
    return image[top:max(top + 1, round(y1 * h)), left:max(left + 1, round(x1 * w))]


def shown(tile: Tile) -> Array | None:
    """The image a tile shows: its crop when it has one."""
    if tile.image is None or tile.crop is None:
        return tile.image
    return cropped(tile.image, tile.crop)


def draw(rows: Sequence[Sequence[Tile]], row_labels: Sequence[str] = (),
         col_labels: Sequence[str] = (), caption: str = "") -> Figure:
    """The figure: each row of tiles spread over the width in equal boxes of the largest image's
    aspect (a row of fewer tiles has larger boxes), labels beside the rows and above the first
    row's columns, the caption below."""
    shapes = [image.shape[:2] for row in rows for tile in row if (image := shown(tile)) is not None]
    aspect = max(h for h, _ in shapes) / max(w for _, w in shapes) if shapes else 0.75
    longest = max((len(line) for label in row_labels for line in label.split("\n")), default=0)
    left = max(LABEL_IN, longest * FONT_PT * LABEL_EM / 72 + 2 * LABEL_PAD_PT / 72) \
        if row_labels else 0.0
    titled = bool(col_labels) or any(tile.title for row in rows for tile in row)
    top = TITLE_IN if titled else 0.0
    widths = [(WIDTH_IN - left - (len(row) - 1) * GAP_IN) / len(row) for row in rows]
    heights = [width * aspect for width in widths]
    chars = int(WIDTH_IN * 72 / (FONT_PT * CHAR_EM))
    lines = [line for para in caption.split("\n") for line in textwrap.wrap(para, chars) or [""]]
    row_gap = GAP_IN + (TITLE_IN if any(tile.title for row in rows[1:] for tile in row) else 0.0)
    notes = [max((tile.note.count("\n") + 1 if tile.note else 0 for tile in row), default=0)
             * NOTE_LINE_IN for row in rows]  # the height of each row's notes
    grid_h = top + sum(heights) + sum(notes) + (len(rows) - 1) * row_gap
    height = grid_h + (0.15 + len(lines) * CAPTION_LINE_IN if lines else 0.0)
    figure = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
    y_top = top
    for r, row in enumerate(rows):
        box_w, box_h = widths[r], heights[r]
        for c, tile in enumerate(row):
            x = (left + c * (box_w + GAP_IN)) / WIDTH_IN
            y = (height - y_top - box_h) / height
            axes = figure.add_axes((x, y, box_w / WIDTH_IN, box_h / height))
            panel(axes, tile)
            title = tile.title or (col_labels[c] if r == 0 and c < len(col_labels) else "")
            if title:
                axes.set_title(title, fontsize=FONT_PT, pad=3)
            if tile.note:  # under the box, not the image: notes line up across the row
                figure.text(x + box_w / WIDTH_IN / 2, y - 0.02 / height, tile.note, ha="center",
                            va="top", fontsize=NOTE_PT, linespacing=1.15, family="monospace")
            if c == 0 and r < len(row_labels):
                axes.annotate(row_labels[r], (0, 0.5), xycoords="axes fraction",
                              xytext=(-LABEL_PAD_PT, 0), textcoords="offset points", ha="right",
                              va="center", fontsize=FONT_PT, multialignment="center")
        y_top += box_h + notes[r] + row_gap
    if lines:
        figure.text(0.0, (height - grid_h - 0.1) / height, "\n".join(lines), ha="left",
                    va="top", fontsize=FONT_PT, linespacing=1.25)
    return figure


def panel(axes: Axes, tile: Tile) -> None:
    """One panel: its image filling the box (aspect kept, centred), inset, box and letter."""
    axes.set_axis_off()
    image = shown(tile)
    if image is None:
        axes.add_patch(Rectangle((0, 0), 1, 1, color=str(GREY), transform=axes.transAxes))
    else:
        axes.imshow(as_rgb8(image), interpolation="lanczos")
        axes.set_anchor("N")  # an image narrower than its box sits at the top, under its title
    if tile.box is not None and image is not None:
        h, w = image.shape[:2]
        x0, y0, x1, y1 = tile.box
        axes.add_patch(Rectangle((x0 * w - 0.5, y0 * h - 0.5), (x1 - x0) * w, (y1 - y0) * h,
                                 fill=False, edgecolor="white", linewidth=1.2))
    if tile.inset is not None:
        h, w = tile.inset.shape[:2]
        width = 0.3
        height = width * h / w * axes.bbox.width / axes.bbox.height
        inset = axes.inset_axes((0, 0, width, height))
        inset.imshow(as_rgb8(tile.inset), interpolation="lanczos")
        inset.set_xticks([])
        inset.set_yticks([])
        for spine in inset.spines.values():
            spine.set_edgecolor("white")
            spine.set_linewidth(1.5)
    if tile.letter:
        axes.text(0.0, 1.0, tile.letter, transform=axes.transAxes, ha="left", va="top",
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
