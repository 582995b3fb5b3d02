"""Softmax over an axis (1 by default). ONNX: Softmax."""
from typing import Any

import onnx
from onnx import helper

from reproduce.caffe.layers.registry import Layer, LayerType, Reading, Shape, register


def read(layer: Any, shape: Shape, where: str) -> Reading:
    return Reading(dict(axis=layer.softmax_param.axis), [], shape)


def nodes(layer: Layer) -> list[onnx.NodeProto]:
    return [helper.make_node("Softmax", layer.inputs, layer.outputs, name=layer.name,
                             axis=layer.params["axis"])]


SOFTMAX = register(LayerType("Softmax", "SOFTMAX", read, nodes, ("Softmax",)))
