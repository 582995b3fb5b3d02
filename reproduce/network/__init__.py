"""Stage 2, the network: a Caffe net exported to ONNX and checked, written as a network file (the
.onnx and its record), loaded into torch through onnx2torch with the pooling chosen, the runtime
settings, the CVPR paper's normalisation and the memory a run needs.

The stage's choices are data here, so that the configuration reads them without importing torch.
"""
import os

from reproduce.errors import ReproduceError
from reproduce.files import ROOT, PathLike
from reproduce.lazy import lazy_exports

POOLINGS = ("avg", "max")  # every pooling layer made average (the paper's figures) or max
RECOMPUTE = ("auto", "on", "off")  # recompute the network's stages in the backward pass
PRECISIONS = ("float32", "float64")  # the network's arithmetic: Caffe's float32, or float64
VGG19 = ROOT / "models" / "converted" / "vgg19.onnx"  # the default network file



class NetworkError(ReproduceError):
    """A network file that is missing, is not one this project wrote, or does not suit the
    method; the message says which."""


def record_path(path: PathLike) -> str:
    """A network file's record: NAME.json beside NAME.onnx (one set with it)."""
    return os.path.splitext(os.fspath(path))[0] + ".json"


__all__ = ["POOLINGS", "PRECISIONS", "RECOMPUTE", "VGG19", "Network", "NetworkError", "NetworkFile",
           "configure_runtime", "convert", "default_device", "device_kind", "load_network",
           "loaded_network", "read_network", "record_path", "write_network"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "Network": "load", "load_network": "load", "loaded_network": "load",
    "NetworkFile": "file", "read_network": "file", "write_network": "file",
    "configure_runtime": "runtime", "default_device": "runtime", "device_kind": "runtime",
    "convert": "convert"})
