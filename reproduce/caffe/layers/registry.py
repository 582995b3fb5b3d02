"""The registry of Caffe layer types: one entry per type, saying how the type is named in each
format, how a layer of it is read (its parameters, the shapes of its weight blobs and its output
shape, at its input's shape) and how it becomes ONNX nodes. A new layer type is one module in
this package that registers one `LayerType`, and its test."""
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

Shape = tuple[int, ...]  # a blob's shape without the batch axis: (C, H, W), or (K,) once flat


@dataclass
class Layer:
    """A layer of the converted net: values read and written (single assignment: fresh names for
    in-place tops), the Caffe blobs written, its reading, and its weights."""
    name: str
    type: str
    inputs: list[str]       # value names read
    outputs: list[str]      # value names written (fresh names for in-place tops)
    tops: list[str]         # the Caffe blob names written
    params: dict[str, Any]  # the layer's attributes, resolved (kernel, stride, pad, ...)
    weights: list[np.ndarray] = field(default_factory=list)  # float32, in Caffe's shapes
    out_shape: Shape = ()   # (C, H, W) or (K,) at the prototxt's input size


@dataclass(frozen=True)
class Reading:
    """A layer as read from its prototxt entry at its input's shape."""
    params: dict[str, Any]      # its attributes, resolved (kernel, stride, pad, ...)
    weights: Sequence[Shape]    # the shapes of its weight blobs, in Caffe's order (none: ())
    out_shape: Shape


@dataclass(frozen=True)
class LayerType:
    """A Caffe layer type: its names, its reading and its ONNX nodes."""
    name: str    # the new format's type string ("Convolution")
    v1: str      # the old format's LayerType enum name ("CONVOLUTION")
    read: Callable[[Any, Shape, str], Reading]            # (layer proto, input shape, where)
    nodes: Callable[[Layer], list[onnx.NodeProto]]
    ops: tuple[str, ...]  # the ONNX operators its nodes use (a network file may hold no others)


LAYER_TYPES: dict[str, LayerType] = {}


def onnx_ops() -> set[str]:
    """Every ONNX operator the registered layer types make."""
    return {op for kind in LAYER_TYPES.values() for op in kind.ops}


def register(kind: LayerType) -> LayerType:
    """Add a layer type to LAYER_TYPES (once)."""
    if kind.name in LAYER_TYPES:
        raise ValueError(f"layer type {kind.name} is registered twice")
    LAYER_TYPES[kind.name] = kind
    return kind


def weight_names(layer: Layer) -> list[str]:
    """The ONNX initializers of a layer's weights: LAYER/weight, then LAYER/bias."""
    return [f"{layer.name}/{'weight' if i == 0 else 'bias'}" for i in range(len(layer.weights))]
