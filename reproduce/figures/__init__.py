"""The paper's figures: tables of panels (tables), what a run must render (plan), rendering
(execute), the layout in real type (layout), manifests (manifest) and the driver (make)."""
from reproduce.figures.make import make_figures
from reproduce.figures.plan import CAFFEMODEL, MODEL, PROTOTXT, SHIPPED, require_model
from reproduce.figures.tables import FIGURES, PAPER_FIGURES, PAPERS, PRESETS

__all__ = ["CAFFEMODEL", "FIGURES", "MODEL", "PAPER_FIGURES", "PAPERS", "PRESETS", "PROTOTXT", "SHIPPED",
           "make_figures", "require_model"]
