"""Synthetic caffemodels, for the tests and the benchmarks: random weights in the shapes a deploy
prototxt implies (each layer's registered type says its weight shapes), written as the 2014 VGG
files are (old-format `layers`, legacy num/channels/height/width blob dims, fc weights
1×1×out×in)."""
import os
import pathlib

import numpy as np

from reproduce.caffe.layers.registry import Shape
from reproduce.caffe.net import read_graph
from reproduce.caffe.read import read_prototxt
from reproduce.caffe.schema import NetParameter, Proto


def blob_proto(blob: Proto, array: np.ndarray, legacy: bool = True, double: bool = False) -> None:
    """Fill a BlobProto: legacy num/channels/height/width (1-padded on the left, as the 2014
    files store fc weights 1×1×out×in) or shape.dim; little-endian float32 `data` or float64
    `double_data`."""
    if legacy:
        blob.num, blob.channels, blob.height, blob.width = (1,) * (4 - array.ndim) + array.shape
    else:
        blob.shape.dim.extend(array.shape)
    if double:
        blob.double_data = np.asarray(array, dtype="<f8").tobytes()
    else:
        blob.data = np.asarray(array, dtype="<f4").tobytes()


def weight_shapes(graph: Proto, until: str | None = None) -> dict[str, list[Shape]]:
    """{layer: [weight shape, bias shape, ...]} for each layer with weights of a deploy net
    (NetParameter, either format), up to and including layer `until`."""
    return {layer.name: shapes for layer, shapes in read_graph(graph, until).layers if shapes}


def write_random_caffemodel(prototxt: str | os.PathLike[str], path: str | os.PathLike[str],
                            seed: int = 0, until: str | None = None) -> pathlib.Path:
    """A caffemodel with every weighted layer of the prototxt (up to `until`): seeded He-normal
    weights, so that activations keep their scale through the ReLUs, and zero biases. Each layer
    is serialised on its own, so that memory holds one layer's weights at a time."""
    graph = read_prototxt(prototxt)
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        for name, (weight, *rest) in weight_shapes(graph, until).items():
            net = NetParameter()
            layer = net.layers.add(name=name)
            fan_in = int(np.prod(weight[1:]))
            values = rng.standard_normal(weight, dtype=np.float32)
            values *= np.float32(np.sqrt(2.0 / fan_in))
            blob_proto(layer.blobs.add(), values)
            for bias in rest:
                blob_proto(layer.blobs.add(), np.zeros(bias, np.float32))
            f.write(net.SerializeToString())  # NetParameters concatenated: one message
    return pathlib.Path(path)
