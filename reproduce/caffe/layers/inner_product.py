"""InnerProduct: flattens C·H·W, y = x·Wᵀ + b with weights (num_output, K) (or (K, num_output)
with transpose). ONNX: Flatten, then Gemm."""
import math
from typing import Any

import onnx
from onnx import helper

from reproduce.caffe.layers.registry import Layer, LayerType, Reading, Shape, register, weight_names
from reproduce.caffe.read import CaffeError


def read(layer: Any, shape: Shape, where: str) -> Reading:
    p = layer.inner_product_param
    if p.axis != 1:
        raise CaffeError(f"{where}: InnerProduct with axis {p.axis} is not supported (only 1)")
    if not p.num_output:
        raise CaffeError(f"{where}: InnerProduct needs num_output")
    k = math.prod(shape)
    weight = (k, p.num_output) if p.transpose else (p.num_output, k)
    weights = [weight] + ([(p.num_output,)] if p.bias_term else [])
    return Reading(dict(transpose=p.transpose, flatten=len(shape) > 1), weights, (p.num_output,))


def nodes(layer: Layer) -> list[onnx.NodeProto]:
    x, made = layer.inputs[0], []
    if layer.params["flatten"]:
        made.append(helper.make_node("Flatten", [x], [f"{layer.name}/flat"], axis=1,
                                     name=f"{layer.name}_flatten"))
        x = f"{layer.name}/flat"
    made.append(helper.make_node("Gemm", [x] + weight_names(layer), layer.outputs,
                                 name=layer.name, transB=int(not layer.params["transpose"])))
    return made


INNER_PRODUCT = register(LayerType("InnerProduct", "INNER_PRODUCT", read, nodes, ("Flatten", "Gemm")))
