"""Caffe's forward pass written again in NumPy, and writers of synthetic Caffe model files.

The reference follows Caffe's layer semantics (its C++ layers' definitions of output size,
windows and divisors), not the converter: parameters are read from the same plain dicts that
the writers put into the prototxt, with Caffe's defaults applied here. Everything runs in
float64 with plain loops and einsum, so it is slow but easy to check by eye.

A model is a `Model`: an input shape and `Spec`s, one per layer, each with its prototxt
parameters ({"convolution_param": {"num_output": 8, "kernel_size": 3}}) and weight arrays in
Caffe's shapes. `write_model` writes it as an old-format (V1 `layers`, `input_dim`) or
new-format (`layer`, Input layer) prototxt plus a binary caffemodel.
"""
import math
from dataclasses import dataclass, field

import numpy as np
from google.protobuf import json_format, text_format

from reproduce.caffe.schema import NetParameter
from reproduce.caffe.synthetic import blob_proto

# New-format type strings -> the old format's enum names (only those the tests write).
V1_NAMES = {"Convolution": "CONVOLUTION", "ReLU": "RELU", "Pooling": "POOLING",
            "InnerProduct": "INNER_PRODUCT", "Dropout": "DROPOUT", "Softmax": "SOFTMAX",
            "LRN": "LRN"}
WEIGHTED = {"Convolution": "convolution_param", "InnerProduct": "inner_product_param"}


@dataclass
class Spec:
    """One Caffe layer: type is the new-format string; in place when top == bottom."""
    name: str
    type: str
    bottom: str
    top: str
    params: dict = field(default_factory=dict)
    blobs: list = field(default_factory=list)


@dataclass
class Model:
    """A deploy net: its input blob and shape, and its layers in order."""
    input_shape: tuple   # N, C, H, W
    layers: list
    name: str = "synthetic"
    input_name: str = "data"


def conv(name, bottom, **param):
    return Spec(name, "Convolution", bottom, name, {"convolution_param": param})


def pool(name, bottom, **param):
    return Spec(name, "Pooling", bottom, name, {"pooling_param": param})


def fc(name, bottom, **param):
    return Spec(name, "InnerProduct", bottom, name, {"inner_product_param": param})


def relu(name, blob, **param):
    """In place, as VGG writes it."""
    return Spec(name, "ReLU", blob, blob, {"relu_param": param} if param else {})


def dropout(name, blob):
    return Spec(name, "Dropout", blob, blob, {"dropout_param": {"dropout_ratio": 0.5}})


def softmax(name, bottom):
    return Spec(name, "Softmax", bottom, name)


# --- parameters, with Caffe's defaults ---

def _pair(param, name, default, scalar=None):
    """Caffe's (h, w) of kernel/stride/pad: NAME_h and NAME_w, else the scalar field (NAME or
    kernel_size; one value or two)."""
    if f"{name}_h" in param:
        return param[f"{name}_h"], param[f"{name}_w"]
    value = param.get(scalar or name, default)
    values = value if isinstance(value, list) else [value]
    return values[0], values[-1]


def conv_geometry(layer):
    """(kernel, stride, pad, dilation) as (h, w) pairs, and the group."""
    p = layer.params.get("convolution_param", {})
    return (_pair(p, "kernel", None, "kernel_size"), _pair(p, "stride", 1), _pair(p, "pad", 0),
            _pair(p, "dilation", 1)), p.get("group", 1)


def pool_geometry(layer, height, width):
    """(kernel, stride, pad) as (h, w) pairs; global pooling covers the whole input."""
    p = layer.params.get("pooling_param", {})
    if p.get("global_pooling", False):
        return (height, width), (1, 1), (0, 0)
    return _pair(p, "kernel", None, "kernel_size"), _pair(p, "stride", 1), _pair(p, "pad", 0)


def pooled_size(size, kernel, stride, pad, any_pad, ceil=True):
    """Caffe's pooled size: rounded up by default; when the layer pads at all, a last window
    that would start in the padding is dropped."""
    span = size + 2 * pad - kernel
    pooled = (math.ceil(span / stride) if ceil else span // stride) + 1
    if any_pad and (pooled - 1) * stride >= size + pad:
        pooled -= 1
    return pooled


# --- layers: (input, Spec) -> output, all float64 ---

def conv_forward(x, layer):
    ((kh, kw), (sh, sw), (ph, pw), (dh, dw)), group = conv_geometry(layer)
    weight = layer.blobs[0]
    n, c, h, w = x.shape
    out_h = (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    out_w = (w + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((n, weight.shape[0], out_h, out_w))
    c_in, c_out = c // group, weight.shape[0] // group
    for g in range(group):
        ins, outs = slice(g * c_in, (g + 1) * c_in), slice(g * c_out, (g + 1) * c_out)
        for i in range(kh):
            for j in range(kw):
                patch = padded[:, ins, i * dh:i * dh + sh * (out_h - 1) + 1:sh,
                               j * dw:j * dw + sw * (out_w - 1) + 1:sw]
                out[:, outs] += np.einsum("nchw,oc->nohw", patch, weight[outs, :, i, j])
    if layer.params.get("convolution_param", {}).get("bias_term", True):
        out += layer.blobs[1].reshape(1, -1, 1, 1)
    return out


def pool_forward(x, layer):
    """MAX over the window clipped to the image; AVE divides by the window clipped to the
    padded image (hend = min(hstart + k, H + pad) before clipping to the image)."""
    p = layer.params.get("pooling_param", {})
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = pool_geometry(layer, h, w)
    ceil = p.get("round_mode", "CEIL") == "CEIL"
    any_pad = ph > 0 or pw > 0
    out_h = pooled_size(h, kh, sh, ph, any_pad, ceil)
    out_w = pooled_size(w, kw, sw, pw, any_pad, ceil)
    out = np.empty((n, c, out_h, out_w))
    for i in range(out_h):
        h0 = i * sh - ph
        h1 = min(h0 + kh, h + ph)
        for j in range(out_w):
            w0 = j * sw - pw
            w1 = min(w0 + kw, w + pw)
            window = x[:, :, max(h0, 0):min(h1, h), max(w0, 0):min(w1, w)]
            if p.get("pool", "MAX") == "MAX":
                out[:, :, i, j] = window.max(axis=(2, 3))
            else:
                out[:, :, i, j] = window.sum(axis=(2, 3)) / ((h1 - h0) * (w1 - w0))
    return out


def fc_forward(x, layer):
    """y = x·Wᵀ + b, x flattened to N × (C·H·W); W is stored K × out when transpose is set."""
    p = layer.params.get("inner_product_param", {})
    flat = x.reshape(x.shape[0], -1)
    weight = layer.blobs[0]
    out = flat @ (weight if p.get("transpose", False) else weight.T)
    if p.get("bias_term", True):
        out = out + layer.blobs[1]
    return out


def relu_forward(x, layer):
    slope = layer.params.get("relu_param", {}).get("negative_slope", 0.0)
    return np.maximum(x, 0) + slope * np.minimum(x, 0)


def softmax_forward(x, layer):
    axis = layer.params.get("softmax_param", {}).get("axis", 1)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


LAYERS = {"Convolution": conv_forward, "Pooling": pool_forward, "InnerProduct": fc_forward,
          "ReLU": relu_forward, "Dropout": lambda x, layer: x, "Softmax": softmax_forward}


def _weight_shape(layer, shape):
    """Caffe's weight blob shape for a layer whose input has `shape`."""
    if layer.type == "Convolution":
        (kernel, *_), group = conv_geometry(layer)
        return (layer.params["convolution_param"]["num_output"], shape[1] // group, *kernel)
    p = layer.params["inner_product_param"]
    k = math.prod(shape[1:])
    return (k, p["num_output"]) if p.get("transpose", False) else (p["num_output"], k)


def _random_blobs(layer, shape, rng):
    """float32-exact weights giving outputs of unit variance, and small biases."""
    p = layer.params[WEIGHTED[layer.type]]
    weight_shape = _weight_shape(layer, shape)
    fan_in = math.prod(weight_shape) // p["num_output"]
    blobs = [rng.standard_normal(weight_shape) / math.sqrt(fan_in)]
    if p.get("bias_term", True):
        blobs.append(0.1 * rng.standard_normal(p["num_output"]))
    return [b.astype(np.float32) for b in blobs]


def forward(model, x, rng=None):
    """{blob name: value after Caffe's forward pass of x}, in float64. In-place layers overwrite
    their blob. With rng, weighted layers that have no blobs get random ones sized from their
    input first (so a model's weights can be made by one pass over a zero input)."""
    blobs = {model.input_name: np.asarray(x, dtype=np.float64)}
    for layer in model.layers:
        bottom = blobs[layer.bottom]
        if rng is not None and layer.type in WEIGHTED and not layer.blobs:
            layer.blobs = _random_blobs(layer, bottom.shape, rng)
        blobs[layer.top] = LAYERS[layer.type](bottom, layer)
    return blobs


def with_random_weights(model, seed=0):
    """The model, its weighted layers given random weights; returned for chaining."""
    forward(model, np.zeros(model.input_shape), np.random.default_rng(seed))
    return model


# --- readers, to check this reference against real Caffe's blobs ---

def _array(blob):
    if blob.HasField("shape"):
        shape = tuple(blob.shape.dim)
    else:
        shape = (blob.num, blob.channels, blob.height, blob.width)
    if blob.data:
        return np.frombuffer(blob.data, "<f4").reshape(shape)
    return np.frombuffer(blob.double_data, "<f8").reshape(shape)


def model_from_files(prototxt, caffemodel):
    """A Model read from Caffe files through the schema alone; weights matched by layer name,
    fc weights stripped of their legacy 1×1 padding."""
    graph, trained = NetParameter(), NetParameter()
    text_format.Parse(prototxt.read_text(), graph, allow_unknown_field=True)
    trained.ParseFromString(caffemodel.read_bytes())
    weights = {layer.name: [_array(b) for b in layer.blobs]
               for layer in [*trained.layers, *trained.layer]}
    if graph.input:
        input_name, input_shape = graph.input[0], tuple(graph.input_dim)
    else:
        first = graph.layer[0]  # the Input layer
        input_name, input_shape = first.top[0], tuple(first.input_param.shape[0].dim)
    from_v1 = {v1: name for name, v1 in V1_NAMES.items()}
    layers = []
    for proto in [*graph.layers, *graph.layer]:
        params = json_format.MessageToDict(proto, preserving_proto_field_name=True)
        kind = from_v1.get(params["type"], params["type"])
        if kind == "Input":
            continue
        blobs = weights.get(proto.name, [])
        if kind == "InnerProduct":
            blobs = [b.reshape(b.shape[-2:]) for b in blobs[:1]] + [b.ravel() for b in blobs[1:]]
        layers.append(Spec(proto.name, kind, proto.bottom[0], proto.top[0],
                           {k: v for k, v in params.items() if k.endswith("_param")}, blobs))
    return Model(input_shape, layers, graph.name, input_name)


# --- writers ---

def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)  # numbers, and enum names such as AVE, which prototxt writes bare


def _fields(params, indent):
    """Prototxt lines of a parameter dict: nested dicts are messages, lists repeated fields."""
    pad = " " * indent
    lines = []
    for key, value in params.items():
        for item in (value if isinstance(value, list) else [value]):
            if isinstance(item, dict):
                lines += [f"{pad}{key} {{", *_fields(item, indent + 2), f"{pad}}}"]
            else:
                lines.append(f"{pad}{key}: {_value(item)}")
    return lines


def prototxt_text(model, v1):
    """The deploy prototxt: old format (`layers`, enum types, `input_dim`) or new (`layer`,
    string types, an Input layer)."""
    lines = [f'name: "{model.name}"']
    if v1:
        lines += [f'input: "{model.input_name}"', *(f"input_dim: {d}" for d in model.input_shape)]
    else:
        lines += ["layer {", '  name: "input"', '  type: "Input"', f'  top: "{model.input_name}"',
                  *_fields({"input_param": {"shape": {"dim": list(model.input_shape)}}}, 2), "}"]
    for layer in model.layers:
        kind = V1_NAMES[layer.type] if v1 else f'"{layer.type}"'
        lines += ["layers {" if v1 else "layer {", f'  name: "{layer.name}"', f"  type: {kind}",
                  f'  bottom: "{layer.bottom}"', f'  top: "{layer.top}"',
                  *_fields(layer.params, 2), "}"]
    return "\n".join(lines) + "\n"


def caffemodel_bytes(model, v1, legacy=True, double=False):
    """A binary caffemodel holding every layer (name, type, bottom, top) and its weights."""
    net = NetParameter(name=model.name)
    for layer in model.layers:
        proto = net.layers.add() if v1 else net.layer.add()
        proto.name = layer.name
        proto.type = V1_NAMES[layer.type] if v1 else layer.type
        proto.bottom.append(layer.bottom)
        proto.top.append(layer.top)
        for array in layer.blobs:
            blob_proto(proto.blobs.add(), array, legacy, double)
    return net.SerializeToString()


def write_model(model, folder, v1=True, legacy=True, double=False):
    """Write NAME.prototxt and NAME.caffemodel into folder; returns their paths."""
    prototxt = folder / f"{model.name}.prototxt"
    caffemodel = folder / f"{model.name}.caffemodel"
    prototxt.write_text(prototxt_text(model, v1))
    caffemodel.write_bytes(caffemodel_bytes(model, v1, legacy, double))
    return prototxt, caffemodel
