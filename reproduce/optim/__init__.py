"""Stage 4, the optimiser: image synthesis by L-BFGS-B on the pixels from a start image, with
the optimisers by name.

The optimisers' names are data here, so that the configuration reads them without importing
torch: each maps to the module whose `minimise` runs it (reproduce.optim.minimiser says what
every one of them takes and returns)."""
from reproduce.lazy import lazy_exports

OPTIMISERS = {
    "scipy": "scipy_lbfgsb",   # scipy's L-BFGS-B, as the authors ran it
    "device": "lbfgsb",        # the same L-BFGS-B, iterate for iterate, its state on the device
}
DEFAULT_OPTIMISER = "device"   # no slower than scipy's on the CPU, far faster on a GPU

__all__ = ["DEFAULT_OPTIMISER", "OPTIMISERS", "MAXCOR", "Minimum", "NonFiniteLoss", "Synthesis",
           "SynthesisInterrupted", "minimiser", "synthesise"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "MAXCOR": "minimiser", "Minimum": "minimiser", "NonFiniteLoss": "minimiser",
    "minimiser": "minimiser", "Synthesis": "synthesis", "SynthesisInterrupted": "synthesis",
    "synthesise": "synthesis"})
