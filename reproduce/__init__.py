"""A faithful reproduction of Gatys, Ecker & Bethge, "A Neural Algorithm of Artistic Style" (2015).

The pipeline, one package a stage, imports flowing down it:

    caffe    Caffe's files: prototxt and caffemodel read and checked, the layer registry
    network  → ONNX, the network file and its record, → torch (onnx2torch), runtime, memory
    method   the paper's losses, the objective (eq. 7), α and β, colour preservation
    optim    L-BFGS-B on the pixels: the optimisers by name, synthesis
    run      the configuration, a transfer as a run, grid files, the Ray backend
    figures  the papers' figures, rendered, laid out, recorded and compared

with `image` (files in and out, Caffe's input convention), `errors`, `files`, `process`,
`protowire` and `lazy` beside them. The public API below is loaded on first use (PEP 562), so
that `import reproduce` and the configuration import no torch.
"""
from reproduce.lazy import lazy_exports

__all__ = ["Objective", "ReproduceError", "TransferConfig", "configure_runtime", "convert",
           "deprocess", "load_image", "load_network", "preprocess", "run_transfer", "save_image",
           "synthesise"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "ReproduceError": "errors", "convert": "network.convert", "load_network": "network.load",
    "configure_runtime": "network.runtime", "load_image": "image.files",
    "save_image": "image.files", "preprocess": "image.convention",
    "deprocess": "image.convention", "Objective": "method.objective",
    "synthesise": "optim.synthesis", "TransferConfig": "run.config",
    "run_transfer": "run.transfer"})
