"""The 2015 paper's figures as tables, numbered as each version numbers them: the arXiv paper
(Gatys, Ecker & Bethge, "A Neural Algorithm of Artistic Style", arXiv 1508.06576: Figs. 1–3)
and the CVPR paper ("Image Style Transfer Using Convolutional Neural Networks", CVPR 2016:
Figs. 1 and 3–7; its Fig. 2 is the method's diagram, not a result). The arXiv Fig. 2 is the CVPR
Fig. 3, with each version's values.
"""
from reproduce.figures.tables import (
    INPUTS,
    Cell,
    Figure,
    Job,
    Preset,
    layers_up_to,
    ratio_math,
    ratio_text,
    version,
)

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


def fig1(paper: str, preset: Preset) -> Figure:
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


def styles(paper: str, preset: Preset) -> Figure:
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


def layers_and_ratios(paper: str, preset: Preset) -> Figure:
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


def relative_weighting(paper: str, preset: Preset) -> Figure:
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


def content_layer(paper: str, preset: Preset) -> Figure:
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


def initialisation(paper: str, preset: Preset) -> Figure:
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


def photorealistic(paper: str, preset: Preset) -> Figure:
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
