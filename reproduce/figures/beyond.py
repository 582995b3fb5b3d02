"""Figures beyond the papers, for either version, rendered only when named: colour preservation
(the 2016 note) and the loss study (docs/loss-study.md)."""
from reproduce.figures.tables import INPUTS, Cell, Figure, Job, Preset, column_title, ratio_text, version
from reproduce.method import STYLE_LOSSES
from reproduce.run.config import STYLE_LAYERS

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


def colour(paper: str, preset: Preset) -> Figure:
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


# The loss study (beyond the papers; docs/loss-study.md): texture synthesis (style only, from the
# same white noise) of The Starry Night's centre square with each style loss E_l over conv1_1 …
# conv5_1, w_l = 1/5; a row per pooling, average (the paper's) above and max (VGG-19's own)
# below, the source at the left. 256 px is the size of Gatys, Ecker & Bethge's texture paper
# (NIPS 2015): the study's panels are at most that, smaller with a smaller preset.
TEXTURE_SOURCE = "starry"
TEXTURE_SIZE = 256
TEXTURE_POOLINGS = (("avg", "average\npooling"), ("max", "max\npooling"))


def textures(paper: str, preset: Preset) -> Figure:
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
