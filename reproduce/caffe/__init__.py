"""Stage 1, the weights: Caffe's files read and checked — the deploy prototxt and the caffemodel
(old and new format), the registry of layer types, synthetic models for tests and benchmarks, and
fetching the published files."""
from reproduce.lazy import lazy_exports

__all__ = ["CaffeError", "CaffeNet", "LAYER_TYPES", "blob_array", "build_net", "read_caffemodel",
           "read_graph", "read_net", "read_prototxt", "write_random_caffemodel"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "CaffeError": "read", "read_prototxt": "read", "read_caffemodel": "read", "blob_array": "read",
    "CaffeNet": "net", "build_net": "net", "read_graph": "net", "read_net": "net",
    "LAYER_TYPES": "layers", "write_random_caffemodel": "synthetic"})
