"""Figures laid out as the paper's: a grid of panels with letters, insets, labels and a caption.

Text is drawn with a built-in 3×5 bitmap font (no font files, no extra dependency): each glyph
is five octal digits, one per row from the top, whose bits 4, 2, 1 are the left, middle and
right pixel.
"""
import textwrap
from dataclasses import dataclass

import numpy as np

from reproduce.image import long_side_shape, resize

GLYPHS = dict(zip(
    "0123456789"
    "ABCDEF"
    "abcdefghijklmnopqrstuvwxyz"
    " .,:;'-_/()+=",
    (0o75557, 0o26227, 0o71747, 0o71317, 0o55711, 0o74717, 0o74757, 0o71122, 0o75757, 0o75717,
     0o25755, 0o65656, 0o34443, 0o65556, 0o74647, 0o74644,
     0o03553, 0o46556, 0o03443, 0o13553, 0o03743, 0o12722, 0o03536, 0o44655, 0o20222, 0o10116,
     0o45665, 0o62227, 0o06755, 0o06555, 0o02552, 0o06564, 0o03531, 0o05644, 0o03416, 0o27221,
     0o05553, 0o05552, 0o05575, 0o00525, 0o05536, 0o07247,
     0, 0o00002, 0o00024, 0o02020, 0o02024, 0o22000, 0o00700, 0o00007, 0o11244, 0o24442,
     0o21112, 0o02720, 0o07070)))
WHITE, BLACK, GREY = 255.0, 0.0, 200.0


@dataclass
class Cell:
    """One place in the figure: an RGB image (None: a panel left out, drawn grey), its letter,
    and an image shown small in its bottom-left corner (the painting, as in Fig. 2)."""
    image: np.ndarray = None
    letter: str = ""
    inset: np.ndarray = None


def glyph(char):
    """A 5×3 boolean bitmap of one character; capitals without a glyph use the small letter."""
    code = GLYPHS.get(char, GLYPHS.get(char.lower()))
    if code is None:
        raise ValueError(f"no glyph for {char!r}")
    rows = [(code >> 3 * (4 - r)) & 7 for r in range(5)]
    return np.array([[row >> (2 - c) & 1 for c in range(3)] for row in rows], dtype=bool)


def text_mask(text, scale=1):
    """The text as a boolean mask, 5·scale pixels high, one blank column between characters."""
    columns = [np.zeros((5, 1), bool)]
    for char in text:
        columns += [glyph(char), np.zeros((5, 1), bool)]
    mask = np.concatenate(columns, axis=1)
    return mask.repeat(scale, axis=0).repeat(scale, axis=1)


def text_image(text, scale, width=None):
    """Black text on white, padded by one text pixel; `width` pads it on the right."""
    mask = np.pad(text_mask(text, scale), scale)
    if width is not None and width > mask.shape[1]:
        mask = np.pad(mask, ((0, 0), (0, width - mask.shape[1])))
    return np.where(mask[..., None], BLACK, WHITE) * np.ones(3, np.float32)


def paste(canvas, image, top, left):
    """Write `image` into `canvas` with its top-left corner at (top, left), clipped."""
    h, w = image.shape[:2]
    canvas[top:top + h, left:left + w] = image[:canvas.shape[0] - top, :canvas.shape[1] - left]


def fit(image, box_hw):
    """The image scaled to fit a box (aspect kept), centred on white."""
    canvas = np.full((*box_hw, 3), WHITE, np.float32)
    h, w = image.shape[:2]
    scale = min(box_hw[0] / h, box_hw[1] / w)
    shape = (max(1, round(h * scale)), max(1, round(w * scale)))
    paste(canvas, resize(image, shape), (box_hw[0] - shape[0]) // 2, (box_hw[1] - shape[1]) // 2)
    return canvas


def text_scale(box_hw):
    """Text pixels per font pixel: letters about a tenth of a panel's height."""
    return max(1, round(box_hw[0] / 48))


def draw_cell(cell, box_hw, scale):
    """A cell's image fitted to the box, with its inset (a quarter of the width, framed in white)
    at the bottom left and its letter on white at the top left."""
    if cell.image is None:
        image = np.full((*box_hw, 3), GREY, np.float32)
    else:
        image = fit(cell.image, box_hw)
    if cell.inset is not None:
        small = resize(cell.inset, long_side_shape(cell.inset.shape[:2], max(1, box_hw[1] // 4)))
        framed = np.pad(small, ((scale, 0), (0, scale), (0, 0)), constant_values=WHITE)
        paste(image, framed, box_hw[0] - framed.shape[0], 0)
    if cell.letter:
        paste(image, text_image(cell.letter, scale), 0, 0)
    return image


def assemble(rows, row_labels=(), col_labels=(), caption="", gap=None):
    """The figure: `rows` of Cells on a grid of equal boxes (the largest image's size), optional
    labels left of the rows and above the columns, and the caption wrapped below."""
    images = [c.image for row in rows for c in row if c.image is not None]
    box = (max(i.shape[0] for i in images), max(i.shape[1] for i in images))
    scale = text_scale(box)
    gap = scale * 2 if gap is None else gap
    ncols = max(len(row) for row in rows)
    left = max((text_image(l, scale).shape[1] for l in row_labels), default=-gap) + gap
    top = (7 * scale + gap) if col_labels else 0
    width = left + ncols * (box[1] + gap) - gap
    grid = np.full((top + len(rows) * (box[0] + gap) - gap, width, 3), WHITE, np.float32)
    for c, label in enumerate(col_labels):
        paste(grid, text_image(label, scale), 0, left + c * (box[1] + gap))
    for r, row in enumerate(rows):
        y = top + r * (box[0] + gap)
        if r < len(row_labels):
            paste(grid, text_image(row_labels[r], scale), y + (box[0] - 7 * scale) // 2, 0)
        for c, cell in enumerate(row):
            paste(grid, draw_cell(cell, box, scale), y, left + c * (box[1] + gap))
    return np.concatenate([grid, caption_image(caption, width, scale, gap)], axis=0)


def caption_image(caption, width, scale, gap):
    """The caption's lines, wrapped to the figure's width, under a gap; empty if no caption."""
    if not caption:
        return np.zeros((0, width, 3), np.float32)
    chars = max(1, (width // scale - 3) // 4)
    lines = [line for paragraph in caption.split("\n")
             for line in textwrap.wrap(paragraph, chars) or [""]]
    blank = np.full((gap, width, 3), WHITE, np.float32)
    return np.concatenate([blank] + [text_image(line, scale, width) for line in lines], axis=0)
