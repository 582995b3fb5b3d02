"""Stage 6, the figures: the papers' figures as tables of panels (tables), what a run must render
(plan), rendering through a backend (execute), the layout in real type (layout), manifests
(manifest), grid files as figures (grid_figure), the driver (make), and the comparison with
reference figures (diff)."""
from reproduce.lazy import lazy_exports

__all__ = ["CAFFEMODEL", "FIGURE_NAMES", "MODEL", "PAPER_FIGURES", "PAPERS", "PRESETS", "PROTOTXT",
           "SHIPPED", "figure", "make_figures", "make_grid", "require_model"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "make_figures": "make", "make_grid": "make", "CAFFEMODEL": "plan", "MODEL": "plan",
    "PROTOTXT": "plan", "SHIPPED": "plan", "require_model": "plan", "FIGURE_NAMES": "papers",
    "figure": "papers", "PAPER_FIGURES": "papers", "PAPERS": "tables", "PRESETS": "tables"})
