"""Dropout: the identity at test time (Caffe scales at train time). ONNX: Identity."""
from typing import Any

import onnx
from onnx import helper

from reproduce.caffe.layers.registry import Layer, LayerType, Reading, Shape, register


def read(layer: Any, shape: Shape, where: str) -> Reading:
    return Reading({}, [], shape)


def nodes(layer: Layer) -> list[onnx.NodeProto]:
    return [helper.make_node("Identity", layer.inputs, layer.outputs, name=layer.name)]


DROPOUT = register(LayerType("Dropout", "DROPOUT", read, nodes, ("Identity",)))
