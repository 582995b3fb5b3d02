"""Synthetic caffemodels, for the tests and the benchmarks: random weights in the shapes a deploy
prototxt implies, written as the 2014 VGG files are (old-format `layers`, legacy
num/channels/height/width blob dims, fc weights 1×1×out×in).

The shapes are worked out here from the prototxt alone (conv: Caffe's floor rule; pooling:
its ceil rule for VGG's unpadded windows), not by the converter, so that the converter's own
shape checks test something.
"""
import pathlib

import numpy as np

from reproduce.caffe.net import graph_input, layer_type, read_prototxt
from reproduce.caffe.schema import NetParameter


def blob_proto(blob, array, legacy=True, double=False):
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


def weight_shapes(graph, until=None):
    """{layer: (weight shape, bias shape)} for each conv and fc layer of a chain-shaped deploy
    net (NetParameter, either format), up to and including layer `until`."""
    _, (_, channels, height, width) = graph_input(graph)
    features = None   # the input size of the next fc layer, once the net is flat
    shapes = {}
    for layer in (*graph.layers, *graph.layer):
        kind = layer_type(layer)
        if kind == "Convolution":
            p = layer.convolution_param
            k, pad, stride = p.kernel_size[0], (list(p.pad) or [0])[0], (list(p.stride) or [1])[0]
            shapes[layer.name] = ((p.num_output, channels, k, k), (p.num_output,))
            channels = p.num_output
            height, width = ((s + 2 * pad - k) // stride + 1 for s in (height, width))
        elif kind == "Pooling":
            p = layer.pooling_param
            height, width = (-(-(s - p.kernel_size) // p.stride) + 1 for s in (height, width))
        elif kind == "InnerProduct":
            n_in = features or channels * height * width
            shapes[layer.name] = ((layer.inner_product_param.num_output, n_in),
                                  (layer.inner_product_param.num_output,))
            features = layer.inner_product_param.num_output
        if layer.name == until:
            break
    return shapes


def write_random_caffemodel(prototxt, path, seed=0, until=None):
    """A caffemodel with every weighted layer of the prototxt (up to `until`): seeded He-normal
    weights, so that activations keep their scale through the ReLUs, and zero biases. Each layer
    is serialised on its own, so that memory holds one layer's weights at a time."""
    graph = read_prototxt(prototxt)
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        for name, (weight, bias) in weight_shapes(graph, until).items():
            net = NetParameter()
            layer = net.layers.add(name=name)
            fan_in = int(np.prod(weight[1:]))
            values = rng.standard_normal(weight, dtype=np.float32)
            values *= np.float32(np.sqrt(2.0 / fan_in))
            blob_proto(layer.blobs.add(), values)
            blob_proto(layer.blobs.add(), np.zeros(bias, np.float32))
            f.write(net.SerializeToString())  # NetParameters concatenated: one message
    return pathlib.Path(path)
