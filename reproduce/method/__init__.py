"""Stage 3, the method: the paper's losses, one function per equation, the objective L_total
(eq. 7) with its targets, the weights α and β; beyond the 2015 paper, colour preservation and
other style losses with the measures that compare them as texture representations."""
from reproduce.lazy import lazy_exports

# The style losses E_l by name (--style-loss), each the class of reproduce.method.style_losses
# that computes it: data here, so that the configuration reads the names without importing torch.
STYLE_LOSSES = {
    "gram": "Gram",                              # the paper's eq. 4
    "mmd-linear": "MMDLinear",                   # Li et al. 2017
    "mmd-poly": "MMDPoly",                       # Li et al. 2017; c = 0 is gram
    "mmd-gaussian": "MMDGaussian",               # Li et al. 2017
    "stats": "Stats",                            # Li et al. 2017, batch-norm statistics
    "sliced-wasserstein": "SlicedWasserstein",   # Heitz et al. 2021
}
DEFAULT_STYLE_LOSS = "gram"
MMD_C = 1.0  # c of mmd-poly's kernel (xᵀy + c)², Li et al.'s

__all__ = ["BETA", "COLOUR_METHODS", "DEFAULT_STYLE_LOSS", "MMD_C", "STYLE_LOSSES", "Losses",
           "Objective", "colour_method", "loss_weights", "make_style_loss", "paper_losses",
           "resolve_weights"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "Losses": "objective", "Objective": "objective", "paper_losses": "objective",
    "BETA": "weights", "loss_weights": "weights", "resolve_weights": "weights",
    "COLOUR_METHODS": "colour", "colour_method": "colour", "make_style_loss": "style_losses"})
