"""Read Caffe files: a deploy prototxt (the graph) and a caffemodel (the weights), old and new format.

`read_net` returns a `CaffeNet`: the input and an ordered list of `Layer`s with the weights matched
by layer name, every tensor's shape checked, and in-place layers renamed so that each value is
written once (ONNX needs single assignment): the value a Caffe blob holds after a forward pass
keeps the blob's name (for VGG, `conv1_1` is the ReLU output), earlier writes get fresh names
(`conv1_1/conv1_1`). The weights are float32 views of the mapped caffemodel, not copies.
"""
import math
import mmap
import os
from dataclasses import dataclass, field

import numpy as np
from google.protobuf import text_format
from google.protobuf.message import DecodeError

from reproduce.caffe.schema import BlobProto, LayerParameter, NetParameter, V1LayerParameter
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
    blobs: list          # Caffe blob names, each also the name of the value it holds at the end


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


def _varint(buf, pos, end):
    """A protobuf base-128 varint at buf[pos:end]: (value, the position after it)."""
    value = shift = 0
    while pos < end and shift < 64:
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return value, pos
        shift += 7
    raise DecodeError("bad varint")


def _fields(buf, start, end):
    """(number, wire type, field start, value start, value end) of each field of the message at
    buf[start:end]: the wire format's framing only, so that payloads can be viewed in place."""
    pos = start
    while pos < end:
        field_start = pos
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value_end = _varint(buf, pos, end)[1]
        elif wire in (1, 5):
            value_end = pos + (8 if wire == 1 else 4)
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            value_end = pos + length
        else:
            raise DecodeError(f"wire type {wire}")
        if number == 0 or value_end > end:
            raise DecodeError("a field runs past the end of its message")
        yield number, wire, field_start, pos, value_end
        pos = value_end


@dataclass
class RawBlob:
    """A caffemodel blob: its BlobProto without the payload, and the payload where it lies."""
    proto: object        # BlobProto with num/channels/height/width or shape
    payload: memoryview  # little-endian floats: a view of the mapped file
    dtype: np.dtype      # <f4 for `data`, <f8 for `double_data`

    @classmethod
    def of(cls, blob):
        """A RawBlob of an in-memory BlobProto (as the tests build them)."""
        return _raw_blob(memoryview(blob.SerializeToString()), 0, blob.ByteSize())


@dataclass
class Caffemodel:
    """A caffemodel's weights: {layer name: [RawBlob]}, and its layers' names in file order."""
    path: str
    size: int
    layers: list
    weights: dict


V1_LAYERS, LAYERS = 2, 100   # NetParameter: old-format `layers`, new-format `layer`
V1_BLOBS, BLOBS = 6, 7       # V1LayerParameter.blobs, LayerParameter.blobs
DATA, DOUBLE_DATA = 5, 8     # BlobProto's payloads


def _raw_blob(buf, start, end):
    """The BlobProto at buf[start:end]: protobuf parses all but the payload, which is viewed."""
    rest, payload, dtype = bytearray(), memoryview(b""), np.dtype("<f4")
    for number, wire, field_start, value_start, value_end in _fields(buf, start, end):
        if number in (DATA, DOUBLE_DATA):
            if wire != 2:
                raise DecodeError("unpacked float data")
            payload = buf[value_start:value_end]
            dtype = np.dtype("<f4" if number == DATA else "<f8")
        else:
            rest += buf[field_start:value_end]
    return RawBlob(BlobProto.FromString(bytes(rest)), payload, dtype)


def _layer(buf, start, end, v1):
    """(name, [RawBlob]) of the layer message at buf[start:end]."""
    message, blobs_field = (V1LayerParameter, V1_BLOBS) if v1 else (LayerParameter, BLOBS)
    rest, blobs = bytearray(), []
    for number, _, field_start, value_start, value_end in _fields(buf, start, end):
        if number == blobs_field:
            blobs.append(_raw_blob(buf, value_start, value_end))
        else:
            rest += buf[field_start:value_end]
    return message.FromString(bytes(rest)).name, blobs


def read_caffemodel(path):
    """A binary caffemodel's weights, mapped rather than read: the payloads stay views of the
    file until used, and a layer that is not converted is never read. Only the wire format's
    framing is walked here; protobuf parses every message except the payloads."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            buf = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)) if size \
                else memoryview(b"")
    except FileNotFoundError:
        raise CaffeError(f"{path}: no such caffemodel") from None
    except OSError as e:
        raise CaffeError(f"{path}: cannot read the caffemodel ({e.strerror})") from None
    layers, weights = [], {}
    try:
        for number, wire, _, start, end in _fields(buf, 0, size):
            if number in (V1_LAYERS, LAYERS) and wire == 2:
                name, blobs = _layer(buf, start, end, v1=number == V1_LAYERS)
                layers.append(name)
                if blobs:
                    weights[name] = blobs
    except DecodeError as e:
        raise CaffeError(f"{path}: truncated or corrupt caffemodel ({e})") from None
    if not layers:
        raise CaffeError(f"{path}: not a caffemodel (no layers found)")
    return Caffemodel(os.fspath(path), size, layers, weights)


def layer_type(layer):
    if isinstance(layer, V1LayerParameter):
        return V1_TYPES.get(V1LayerParameter.LayerType.Name(layer.type),
                            V1LayerParameter.LayerType.Name(layer.type))
    return layer.type


def _all_layers(net):
    return list(net.layers) + list(net.layer)


def blob_array(blob, where):
    """A RawBlob as a float32 array in its declared shape (legacy num/channels/... or shape.dim):
    a view of the file for float32 data. Non-finite weights are refused."""
    proto = blob.proto
    if proto.HasField("shape"):
        shape = tuple(proto.shape.dim)
    else:
        shape = (proto.num, proto.channels, proto.height, proto.width)
    payload, dtype = blob.payload, blob.dtype
    if not len(payload):
        raise CaffeError(f"{where}: blob holds no data")
    if len(payload) % dtype.itemsize:
        raise CaffeError(f"{where}: blob data of {len(payload)} bytes is not a whole number of "
                         f"{dtype.itemsize}-byte floats (corrupt caffemodel)")
    values = np.frombuffer(payload, dtype=dtype).astype(np.float32, copy=False)
    if values.size != math.prod(shape):
        raise CaffeError(f"{where}: blob declares shape {shape} but holds {values.size} values "
                         "(truncated or corrupt caffemodel)")
    if not np.isfinite(values.sum(dtype=np.float64)):  # NaN or ±inf anywhere; no copy
        raise CaffeError(f"{where}: non-finite weights (NaN or infinity)")
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


def _check_geometry(where, kernel, stride):
    """Refuse a zero stride or kernel."""
    if min(stride) < 1:
        raise CaffeError(f"{where}: stride {stride[0]}×{stride[1]} must be positive")
    if min(kernel) < 1:
        raise CaffeError(f"{where}: kernel {kernel[0]}×{kernel[1]} must be positive")


def _check_output(where, shape, out, kernel, pad):
    """Refuse a window that leaves no output: larger than its padded input."""
    if min(out) < 1:
        raise CaffeError(f"{where}: kernel {kernel[0]}×{kernel[1]} is larger than its padded "
                         f"input {shape[1] + 2 * pad[0]}×{shape[2] + 2 * pad[1]}")


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
    _check_geometry(where, (kh, kw), (sh, sw))
    expected = [(p.num_output, c // p.group, kh, kw)] + ([(p.num_output,)] if p.bias_term else [])
    params = dict(kernel=(kh, kw), stride=(sh, sw), pad=(ph, pw), dilation=(dh, dw), group=p.group)
    out = (p.num_output, _conv_out(h, kh, sh, ph, dh), _conv_out(w, kw, sw, pw, dw))
    _check_output(where, shape, out, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), (ph, pw))
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
    _check_geometry(where, (kh, kw), (sh, sw))
    ceil = type(p).RoundMode.Name(p.round_mode) == "CEIL"
    padded = ph > 0 or pw > 0
    out = (c, _pool_out(h, kh, sh, ph, ceil, padded), _pool_out(w, kw, sw, pw, ceil, padded))
    _check_output(where, shape, out, (kh, kw), (ph, pw))
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
    if not p.num_output:
        raise CaffeError(f"{where}: InnerProduct needs num_output")
    k = math.prod(shape)
    weight = (k, p.num_output) if p.transpose else (p.num_output, k)
    expected = [weight] + ([(p.num_output,)] if p.bias_term else [])
    return dict(transpose=p.transpose, flatten=len(shape) > 1), expected, (p.num_output,)


def graph_input(net):
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


def _no_weights(here, model, earlier):
    """The error for a layer the caffemodel has no weights for; a file whose last layer comes
    before this one in the prototxt (`earlier`) looks cut at a layer boundary."""
    message = f"{here}: no weights for this layer in the caffemodel"
    if model is not None and model.layers and model.layers[-1] in earlier:
        message += (f" ({model.path}, {model.size:,} bytes, ends after layer "
                    f"'{model.layers[-1]}': it looks truncated, unless it holds only the first "
                    "layers; then convert with --until)")
    return CaffeError(message)


def build_net(graph, weights, until=None, where="prototxt", model=None):
    """Combine a deploy graph (NetParameter) with weights ({layer name: [RawBlob]}) into a
    CaffeNet; `model`, the Caffemodel they came from, is named in errors."""
    input_name, input_shape = graph_input(graph)
    if not input_name or len(input_shape) != 4:
        raise CaffeError(f"{where}: no 4-D network input declared")
    if min(input_shape) < 1:
        raise CaffeError(f"{where}: input '{input_name}': dimensions {list(input_shape)} must all "
                         "be positive")
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
                raise _no_weights(here, model, {layer.name for layer in layers})
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
    _name_final_values(layers, current, input_name)
    blobs = [blob for blob in current if blob != input_name]
    return CaffeNet(graph.name, input_name, tuple(input_shape), layers, blobs)


def _name_final_values(layers, current, input_name):
    """Give each blob's name to the value it holds after the forward pass (the last in-place
    write), and the first write a fresh name, so the ONNX outputs are named as Caffe's blobs."""
    rename = {}
    for blob, value in current.items():
        if value != blob and blob != input_name:
            first = next(layer for layer in layers if layer.outputs[0] == blob)
            rename[blob], rename[value] = f"{blob}/{first.name}", blob
    for layer in layers:
        layer.inputs = [rename.get(v, v) for v in layer.inputs]
        layer.outputs = [rename.get(v, v) for v in layer.outputs]


def read_net(prototxt, caffemodel, until=None):
    """Read a deploy prototxt and a caffemodel into a CaffeNet, stopping after layer `until`."""
    graph = read_prototxt(prototxt)
    model = read_caffemodel(caffemodel)
    return build_net(graph, model.weights, until, where=os.path.basename(prototxt), model=model)
