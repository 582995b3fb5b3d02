"""Convolution: weights (num_output, C / group, kh, kw) and a bias; output size
floor((H + 2·pad − dilation·(k − 1) − 1) / stride) + 1. ONNX: Conv."""
from typing import Any

import onnx
from onnx import helper

from reproduce.caffe.layers.geometry import check_geometry, check_output, pair
from reproduce.caffe.layers.registry import Layer, LayerType, Reading, Shape, register, weight_names
from reproduce.caffe.read import CaffeError


def out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def read(layer: Any, shape: Shape, where: str) -> Reading:
    p = layer.convolution_param
    kh, kw = pair(p, "kernel_size", "kernel_h", "kernel_w", None)
    sh, sw = pair(p, "stride", "stride_h", "stride_w", 1)
    ph, pw = pair(p, "pad", "pad_h", "pad_w", 0)
    dilation = list(p.dilation) or [1]
    dh, dw = dilation[0], dilation[-1]
    c, h, w = shape
    if not p.num_output or not kh or not kw:
        raise CaffeError(f"{where}: convolution needs num_output and kernel_size")
    if c % p.group or p.num_output % p.group:
        raise CaffeError(f"{where}: group {p.group} does not divide the channel counts")
    check_geometry(where, (kh, kw), (sh, sw))
    weights = [(p.num_output, c // p.group, kh, kw)] + ([(p.num_output,)] if p.bias_term else [])
    params = dict(kernel=(kh, kw), stride=(sh, sw), pad=(ph, pw), dilation=(dh, dw), group=p.group)
    out = (p.num_output, out_size(h, kh, sh, ph, dh), out_size(w, kw, sw, pw, dw))
    check_output(where, shape, out, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), (ph, pw))
    return Reading(params, weights, out)


def nodes(layer: Layer) -> list[onnx.NodeProto]:
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (layer.params[k] for k in
                                              ("kernel", "stride", "pad", "dilation"))
    attrs = dict(kernel_shape=[kh, kw], strides=[sh, sw], pads=[ph, pw, ph, pw],
                 dilations=[dh, dw], group=layer.params["group"])
    return [helper.make_node("Conv", layer.inputs + weight_names(layer), layer.outputs,
                             name=layer.name, **attrs)]


CONVOLUTION = register(LayerType("Convolution", "CONVOLUTION", read, nodes, ("Conv",)))
