"""Pooling, MAX or AVE, with Caffe's rounding: the output size rounds up (ceil) by default, and in
a layer with any padding the last window must start inside the image or its padding; AVE divides
by the window clipped to the padded image. ONNX: MaxPool or AveragePool with ceil_mode=1 and
count_include_pad=1, the same divisor rule."""
from typing import Any

import onnx
from onnx import helper

from reproduce.caffe.layers.geometry import check_geometry, check_output, pair
from reproduce.caffe.layers.registry import Layer, LayerType, Reading, Shape, register
from reproduce.caffe.read import CaffeError


def out_size(size: int, k: int, s: int, p: int, ceil: bool, padded: bool) -> int:
    """Caffe's pooled size: ceil by default; in a layer with any padding (on either axis) the
    last window must start inside the image or its padding."""
    if not ceil:
        return (size + 2 * p - k) // s + 1
    pooled = -(-(size + 2 * p - k) // s) + 1
    if padded and (pooled - 1) * s >= size + p:
        pooled -= 1
    return pooled


def torch_ceil_out_size(size: int, k: int, s: int, p: int) -> int:
    """The size torch/ONNX ceil mode gives: the same rule applied whatever the padding."""
    return out_size(size, k, s, p, ceil=True, padded=True)


def read(layer: Any, shape: Shape, where: str) -> Reading:
    p = layer.pooling_param
    method = type(p).PoolMethod.Name(p.pool)
    if method == "STOCHASTIC":
        raise CaffeError(f"{where}: STOCHASTIC pooling is not supported")
    c, h, w = shape
    if p.global_pooling:
        (kh, kw), (sh, sw), (ph, pw) = (h, w), (1, 1), (0, 0)
    else:
        kh, kw = pair(p, "kernel_size", "kernel_h", "kernel_w", None)
        sh, sw = pair(p, "stride", "stride_h", "stride_w", 1)
        ph, pw = pair(p, "pad", "pad_h", "pad_w", 0)
    check_geometry(where, (kh, kw), (sh, sw))
    ceil = type(p).RoundMode.Name(p.round_mode) == "CEIL"
    padded = ph > 0 or pw > 0
    out = (c, out_size(h, kh, sh, ph, ceil, padded), out_size(w, kw, sw, pw, ceil, padded))
    check_output(where, shape, out, (kh, kw), (ph, pw))
    if ceil and out[1:] != (torch_ceil_out_size(h, kh, sh, ph), torch_ceil_out_size(w, kw, sw, pw)):
        raise CaffeError(f"{where}: unpadded pooling with stride > kernel has a Caffe-only "
                         "output size that ONNX cannot express")
    params = dict(method=method, kernel=(kh, kw), stride=(sh, sw), pad=(ph, pw), ceil=ceil,
                  global_pooling=p.global_pooling)
    return Reading(params, [], out)


def nodes(layer: Layer) -> list[onnx.NodeProto]:
    (kh, kw), (sh, sw), (ph, pw) = (layer.params[k] for k in ("kernel", "stride", "pad"))
    attrs: dict[str, Any] = dict(kernel_shape=[kh, kw], strides=[sh, sw], pads=[ph, pw, ph, pw],
                                 ceil_mode=int(layer.params["ceil"]))
    if layer.params["method"] == "MAX":
        return [helper.make_node("MaxPool", layer.inputs, layer.outputs, name=layer.name, **attrs)]
    return [helper.make_node("AveragePool", layer.inputs, layer.outputs, name=layer.name,
                             count_include_pad=1, **attrs)]


POOLING = register(LayerType("Pooling", "POOLING", read, nodes, ("MaxPool", "AveragePool")))
