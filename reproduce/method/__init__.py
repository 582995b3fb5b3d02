"""Stage 3, the method: the paper's losses, one function per equation, the objective L_total
(eq. 7) with its targets, the weights α and β, and colour preservation (beyond the 2015 paper)."""
from reproduce.lazy import lazy_exports

__all__ = ["BETA", "COLOUR_METHODS", "Losses", "Objective", "colour_method", "loss_weights",
           "paper_losses", "resolve_weights"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "Losses": "objective", "Objective": "objective", "paper_losses": "objective",
    "BETA": "weights", "loss_weights": "weights", "resolve_weights": "weights",
    "COLOUR_METHODS": "colour", "colour_method": "colour"})
