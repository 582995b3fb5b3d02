"""Each paper's figures, numbered as that paper numbers them: the 2015 paper's arXiv version
(fig1–fig3) and CVPR 2016 version (fig1, fig3–fig7; its Fig. 2 is the method's diagram), the
2017 controls paper (fig2 spatial, fig4 scale, fig5 coarse to fine), and the figures beyond the
papers (colour, textures) for any of them, rendered only when named."""
from collections.abc import Callable

from reproduce.errors import ReproduceError
from reproduce.figures import beyond, paper2015, paper2017
from reproduce.figures.tables import PRESETS, Figure, Preset, version

Table = Callable[[str, Preset], Figure]

# `make_figures.py all` renders a paper's result figures
PAPER_FIGURES = {"arxiv": ("fig1", "fig2", "fig3"),
                 "cvpr": ("fig1", "fig3", "fig4", "fig5", "fig6", "fig7"),
                 "2017": ("fig2", "fig4", "fig5")}
TABLES: dict[tuple[str, str], Table] = {
    ("arxiv", "fig1"): paper2015.fig1, ("arxiv", "fig2"): paper2015.styles,
    ("arxiv", "fig3"): paper2015.layers_and_ratios,
    ("cvpr", "fig1"): paper2015.fig1, ("cvpr", "fig3"): paper2015.styles,
    ("cvpr", "fig4"): paper2015.relative_weighting, ("cvpr", "fig5"): paper2015.content_layer,
    ("cvpr", "fig6"): paper2015.initialisation, ("cvpr", "fig7"): paper2015.photorealistic,
    ("2017", "fig2"): paper2017.spatial, ("2017", "fig4"): paper2017.scale,
    ("2017", "fig5"): paper2017.coarse_to_fine}
EXTRA_FIGURES: dict[str, Table] = {"colour": beyond.colour, "textures": beyond.textures}
FIGURE_NAMES = tuple(sorted({name for _, name in TABLES} | set(EXTRA_FIGURES)))
NOT_RESULTS = {"cvpr": "its Fig. 2 is the diagram of the method",
               "2017": "its Fig. 1 gathers the others, Fig. 3 is colour control (colour), Fig. 6 "
                       "fast style transfer"}


def figure(name: str, paper: str, preset: Preset | None = None) -> Figure:
    """The figure called `name` of `paper` (its own numbering) at a preset (default the full
    one), or one line naming that paper's figures."""
    table = EXTRA_FIGURES.get(name) or TABLES.get((paper, name))
    if table is None:
        why = f" ({NOT_RESULTS[paper]})" if paper in NOT_RESULTS else ""
        raise ReproduceError(f"the {version(paper)} paper has no result figure {name}: its "
                             f"figures are {', '.join(PAPER_FIGURES[paper])}{why}")
    return table(paper, preset or PRESETS["full"])
