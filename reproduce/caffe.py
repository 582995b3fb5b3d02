"""Read Caffe files: a deploy prototxt (the graph) and a caffemodel (the weights), old and new format.

`read_net` returns a `CaffeNet`: the input and an ordered list of `Layer`s with the weights matched
by layer name, every tensor's shape checked, and in-place layers renamed so that each value is
written once (ONNX needs single assignment). `CaffeNet.blob_values` maps each Caffe blob name to
the value Caffe holds in it after a forward pass (for VGG, `conv1_1` is the ReLU output).
"""
import math
import os
from dataclasses import dataclass, field

import numpy as np
from google.protobuf import text_format
from google.protobuf.message import DecodeError

from reproduce.caffe_schema import NetParameter, V1LayerParameter
from reproduce.errors import ReproduceError


class CaffeError(ReproduceError):
    """A Caffe file that cannot be read or converted; the message says what and where."""


# Old-format enum names -> new-format type strings, for the layer types the converter knows.
V1_TYPES = {"CONVOLUTION": "Convolution", "RELU": "ReLU", "POOLING": "Pooling",
            "INNER_PRODUCT": "InnerProduct", "DROPOUT": "Dropout", "SOFTMAX": "Softmax"}
SUPPORTED = {"Input", *V1_TYPES.values()}
TEST_PHASE = 1


@dataclass
class Layer:
    name: str
    type: str
    inputs: list       # value names read
    outputs: list      # value names written (fresh names for in-place tops)
    tops: list         # the Caffe blob names written
    params: dict       # the layer's attributes, already resolved (kernel, stride, pad, ...)
    weights: list = field(default_factory=list)   # float32 arrays, in Caffe's shapes
    out_shape: tuple = ()                          # (C, H, W) or (K,) at the prototxt's input size


@dataclass
class CaffeNet:
    name: str
    input_name: str
    input_shape: tuple   # (N, C, H, W) as the prototxt declares it
    layers: list
    blob_values: dict    # Caffe blob name -> value name holding it after a forward pass


def read_prototxt(path):
    """Parse a text prototxt (fields the minimal schema lacks, such as fillers, are skipped)."""
    net = NetParameter()
    try:
        with open(path, encoding="utf-8") as f:
            text_format.Parse(f.read(), net, allow_unknown_field=True)
    except FileNotFoundError:
        raise CaffeError(f"{path}: no such prototxt") from None
    except OSError as e:
        raise CaffeError(f"{path}: cannot read the prototxt ({e.strerror})") from None
    except (text_format.ParseError, UnicodeDecodeError) as e:
        raise CaffeError(f"{path}: not a readable Caffe prototxt ({e})") from None
    return net


def read_caffemodel(path):
    """Parse a binary caffemodel; blob payloads stay views of the file's bytes (no copies)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise CaffeError(f"{path}: no such caffemodel") from None
    except OSError as e:
        raise CaffeError(f"{path}: cannot read the caffemodel ({e.strerror})") from None
    net = NetParameter()
    try:
        net.ParseFromString(data)
    except DecodeError as e:
        raise CaffeError(f"{path}: truncated or corrupt caffemodel ({e})") from None
    if not (net.layer or net.layers):
        raise CaffeError(f"{path}: not a caffemodel (no layers found)")
    return net


def layer_type(layer):
    if isinstance(layer, V1LayerParameter):
        return V1_TYPES.get(V1LayerParameter.LayerType.Name(layer.type),
                            V1LayerParameter.LayerType.Name(layer.type))
    return layer.type


def _all_layers(net):
    return list(net.layers) + list(net.layer)


def blob_array(blob, where):
    """A BlobProto as a float32 array in its declared shape (legacy num/channels/... or shape.dim)."""
    if blob.HasField("shape"):
        shape = tuple(blob.shape.dim)
    else:
        shape = (blob.num, blob.channels, blob.height, blob.width)
    payload, dtype = blob.data, np.dtype("<f4")  # each read of a bytes field copies it
    if not payload:
        payload, dtype = blob.double_data, np.dtype("<f8")
    if not payload:
        raise CaffeError(f"{where}: blob holds no data")
    if len(payload) % dtype.itemsize:
        raise CaffeError(f"{where}: blob data of {len(payload)} bytes is not a whole number of "
                         f"{dtype.itemsize}-byte floats (corrupt caffemodel)")
    values = np.frombuffer(payload, dtype=dtype).astype(np.float32, copy=False)
    if values.size != math.prod(shape):
        raise CaffeError(f"{where}: blob declares shape {shape} but holds {values.size} values "
                         "(truncated or corrupt caffemodel)")
    return values.reshape(shape)


def _fit(array, expected, where):
    """Accept Caffe's legacy 1-padded shapes (1×1×out×in for fc weights) for the expected shape."""
    def strip(s):
        return tuple(s)[next((i for i, d in enumerate(s) if d != 1), len(s)):]
    if array.shape != tuple(expected) and strip(array.shape) != strip(expected):
        raise CaffeError(f"{where}: weights of shape {array.shape}, expected {tuple(expected)}")
    return array.reshape(expected)


def _pair(param, scalar, h, w, default):
    """Caffe's (h, w) for kernel/stride/pad: explicit _h/_w, else the scalar (or repeated) field."""
    if param.HasField(h) or param.HasField(w):
        return getattr(param, h), getattr(param, w)
    value = getattr(param, scalar)
    if isinstance(value, int):  # PoolingParameter: a scalar with its schema default
        return value, value
    return (value[0], value[-1]) if len(value) else (default, default)


def _conv_out(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _pool_out(size, k, s, p, ceil, padded):
    """Caffe's pooled size: ceil by default; in a layer with any padding (on either axis) the
    last window must start inside the image or its padding."""
    if not ceil:
        return (size + 2 * p - k) // s + 1
    pooled = -(-(size + 2 * p - k) // s) + 1
    if padded and (pooled - 1) * s >= size + p:
        pooled -= 1
    return pooled


def _torch_ceil_pool_out(size, k, s, p):
    """The size torch/ONNX ceil mode gives: the same rule applied whatever the padding."""
    pooled = -(-(size + 2 * p - k) // s) + 1
    if (pooled - 1) * s >= size + p:
        pooled -= 1
    return pooled


def _convolution(layer, shape, where):
    p = layer.convolution_param
    kh, kw = _pair(p, "kernel_size", "kernel_h", "kernel_w", None)
    sh, sw = _pair(p, "stride", "stride_h", "stride_w", 1)
    ph, pw = _pair(p, "pad", "pad_h", "pad_w", 0)
    dilation = list(p.dilation) or [1]
    dh, dw = dilation[0], dilation[-1]
    c, h, w = shape
    if not p.num_output or not kh or not kw:
        raise CaffeError(f"{where}: convolution needs num_output and kernel_size")
    if c % p.group or p.num_output % p.group:
        raise CaffeError(f"{where}: group {p.group} does not divide the channel counts")
    expected = [(p.num_output, c // p.group, kh, kw)] + ([(p.num_output,)] if p.bias_term else [])
    params = dict(kernel=(kh, kw), stride=(sh, sw), pad=(ph, pw), dilation=(dh, dw), group=p.group)
    out = (p.num_output, _conv_out(h, kh, sh, ph, dh), _conv_out(w, kw, sw, pw, dw))
    return params, expected, out


def _pooling(layer, shape, where):
    p = layer.pooling_param
    method = type(p).PoolMethod.Name(p.pool)
    if method == "STOCHASTIC":
        raise CaffeError(f"{where}: STOCHASTIC pooling is not supported")
    c, h, w = shape
    if p.global_pooling:
        (kh, kw), (sh, sw), (ph, pw) = (h, w), (1, 1), (0, 0)
    else:
        kh, kw = _pair(p, "kernel_size", "kernel_h", "kernel_w", None)
        sh, sw = _pair(p, "stride", "stride_h", "stride_w", 1)
        ph, pw = _pair(p, "pad", "pad_h", "pad_w", 0)
    ceil = type(p).RoundMode.Name(p.round_mode) == "CEIL"
    padded = ph > 0 or pw > 0
    out = (c, _pool_out(h, kh, sh, ph, ceil, padded), _pool_out(w, kw, sw, pw, ceil, padded))
    if ceil and out[1:] != (_torch_ceil_pool_out(h, kh, sh, ph), _torch_ceil_pool_out(w, kw, sw, pw)):
        raise CaffeError(f"{where}: unpadded pooling with stride > kernel has a Caffe-only "
                         "output size that ONNX cannot express")
    params = dict(method=method, kernel=(kh, kw), stride=(sh, sw), pad=(ph, pw), ceil=ceil,
                  global_pooling=p.global_pooling)
    return params, out


def _inner_product(layer, shape, where):
    p = layer.inner_product_param
    if p.axis != 1:
        raise CaffeError(f"{where}: InnerProduct with axis {p.axis} is not supported (only 1)")
    k = math.prod(shape)
    weight = (k, p.num_output) if p.transpose else (p.num_output, k)
    expected = [weight] + ([(p.num_output,)] if p.bias_term else [])
    return dict(transpose=p.transpose, flatten=len(shape) > 1), expected, (p.num_output,)


def _input(net):
    """The graph input: old `input` + `input_dim`/`input_shape`, or a new-format Input layer."""
    if net.input:
        dims = list(net.input_dim) or (list(net.input_shape[0].dim) if net.input_shape else [])
        return net.input[0], tuple(dims)
    for layer in net.layer:
        if layer.type == "Input":
            return layer.top[0], tuple(layer.input_param.shape[0].dim)
    return None, ()


def _in_test_phase(layer):
    if any(rule.phase != TEST_PHASE for rule in layer.include):
        return False
    return not any(rule.phase == TEST_PHASE for rule in layer.exclude)


def _check_global_pooling(layers, where):
    """Global pooling is exported with the kernel of the prototxt's input size, so it is only
    right where an fc layer fixes that size (a net without one takes any size)."""
    if any(layer.type == "InnerProduct" for layer in layers):
        return
    for layer in layers:
        if layer.params.get("global_pooling"):
            raise CaffeError(f"{where}: layer '{layer.name}': global pooling in a net without fc "
                             "layers is not supported (its window would stay at the prototxt's "
                             "input size while the converted net takes any size)")


def build_net(graph, weights, until=None, where="prototxt"):
    """Combine a deploy graph (NetParameter) with weights ({layer name: [BlobProto]}) into a CaffeNet."""
    input_name, input_shape = _input(graph)
    if not input_name or len(input_shape) != 4:
        raise CaffeError(f"{where}: no 4-D network input declared")
    current = {input_name: input_name}
    shapes = {input_name: tuple(input_shape[1:])}
    layers = []
    for proto in _all_layers(graph):
        kind = layer_type(proto)
        if kind == "Input" or not _in_test_phase(proto):
            continue
        here = f"{where}: layer '{proto.name}'"
        if kind not in SUPPORTED:
            raise CaffeError(f"{here}: unknown layer type {kind}")
        if len(proto.bottom) != 1 or len(proto.top) != 1:
            raise CaffeError(f"{here}: needs exactly one bottom and one top")
        if proto.bottom[0] not in current:
            raise CaffeError(f"{here}: bottom '{proto.bottom[0]}' is not produced by any earlier layer")
        x = current[proto.bottom[0]]
        shape = shapes[x]
        expected, params = [], {}
        if kind == "Convolution":
            params, expected, out = _convolution(proto, shape, here)
        elif kind == "Pooling":
            params, out = _pooling(proto, shape, here)
        elif kind == "InnerProduct":
            params, expected, out = _inner_product(proto, shape, here)
        else:
            out = shape
            if kind == "ReLU":
                params = dict(negative_slope=proto.relu_param.negative_slope)
            elif kind == "Softmax":
                params = dict(axis=proto.softmax_param.axis)
        arrays = []
        if expected:
            blobs = weights.get(proto.name)
            if not blobs:
                raise CaffeError(f"{here}: no weights for this layer in the caffemodel")
            if len(blobs) != len(expected):
                raise CaffeError(f"{here}: {len(blobs)} weight blobs, expected {len(expected)}")
            arrays = [_fit(blob_array(b, f"{here} blob {i}"), e, f"{here} blob {i}")
                      for i, (b, e) in enumerate(zip(blobs, expected))]
        top = proto.top[0]
        value = top if top not in current else f"{top}/{proto.name}"
        layers.append(Layer(proto.name, kind, [x], [value], [top], params, arrays, out))
        current[top] = value
        shapes[value] = out
        if proto.name == until:
            break
    else:
        if until is not None:
            raise CaffeError(f"{where}: no layer named '{until}' to stop at")
    _check_global_pooling(layers, where)
    blob_values = {blob: value for blob, value in current.items() if blob != input_name}
    return CaffeNet(graph.name, input_name, tuple(input_shape), layers, blob_values)


def read_net(prototxt, caffemodel, until=None):
    """Read a deploy prototxt and a caffemodel into a CaffeNet, stopping after layer `until`."""
    graph = read_prototxt(prototxt)
    model = read_caffemodel(caffemodel)
    weights = {layer.name: list(layer.blobs) for layer in _all_layers(model) if layer.blobs}
    return build_net(graph, weights, until, where=os.path.basename(prototxt))
