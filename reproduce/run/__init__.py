"""Stage 5, the run: the configuration (every parameter, its default and its check, without
torch), the preparation a transfer and a scoring share, a transfer with its progress, image and
log, grid files, and the Ray backend."""
from reproduce.lazy import lazy_exports

__all__ = ["TransferConfig", "TransferInterrupted", "TransferSummary", "prepare", "run_transfer"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "TransferConfig": "config", "prepare": "prepare", "run_transfer": "transfer",
    "TransferSummary": "transfer", "TransferInterrupted": "transfer"})
