"""ReLU (leaky with a negative_slope), usually in place. ONNX: Relu or LeakyRelu."""
from typing import Any

import onnx
from onnx import helper

from reproduce.caffe.layers.registry import Layer, LayerType, Reading, Shape, register


def read(layer: Any, shape: Shape, where: str) -> Reading:
    return Reading(dict(negative_slope=layer.relu_param.negative_slope), [], shape)


def nodes(layer: Layer) -> list[onnx.NodeProto]:
    slope = layer.params["negative_slope"]
    if slope:
        return [helper.make_node("LeakyRelu", layer.inputs, layer.outputs, name=layer.name,
                                 alpha=slope)]
    return [helper.make_node("Relu", layer.inputs, layer.outputs, name=layer.name)]


RELU = register(LayerType("ReLU", "RELU", read, nodes, ("Relu", "LeakyRelu")))
