"""A Caffe net as the converter sees it: the deploy graph's layers in order, each read by its
registered type (reproduce.caffe.layers), with the weights matched by layer name and every
tensor's shape checked.

In-place layers are renamed so that each value is written once (ONNX needs single assignment):
the value a Caffe blob holds after a forward pass keeps the blob's name (for VGG, `conv1_1` is
the ReLU output), earlier writes get fresh names (`conv1_1/conv1_1`). The weights are float32
views of the mapped caffemodel, not copies.
"""
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from reproduce.caffe.layers import LAYER_TYPES
from reproduce.caffe.layers.registry import Layer, Shape
from reproduce.caffe.read import CaffeError, Caffemodel, RawBlob, blob_array, read_caffemodel, read_prototxt
from reproduce.caffe.schema import Proto, V1LayerParameter

TEST_PHASE = 1
V1_TYPES = {kind.v1: kind.name for kind in LAYER_TYPES.values()}  # old enum names -> new types


@dataclass
class CaffeNet:
    name: str
    input_name: str
    input_shape: tuple[int, ...]   # (N, C, H, W) as the prototxt declares it
    layers: list[Layer]
    blobs: list[str]   # Caffe blob names, each also the name of the value it holds at the end


def layer_type(layer: Any) -> str:
    """A layer's type as the new format names it (an old-format enum name the registry does not
    know stays as it is)."""
    if isinstance(layer, V1LayerParameter):
        name = V1LayerParameter.LayerType.Name(layer.type)
        return V1_TYPES.get(name, name)
    return str(layer.type)


def graph_input(net: Proto) -> tuple[str | None, tuple[int, ...]]:
    """The graph input: old `input` + `input_dim`/`input_shape`, or a new-format Input layer."""
    if net.input:
        dims = list(net.input_dim) or (list(net.input_shape[0].dim) if net.input_shape else [])
        return net.input[0], tuple(dims)
    for layer in net.layer:
        if layer.type == "Input":
            return layer.top[0], tuple(layer.input_param.shape[0].dim)
    return None, ()


def _in_test_phase(layer: Any) -> bool:
    if any(rule.phase != TEST_PHASE for rule in layer.include):
        return False
    return not any(rule.phase == TEST_PHASE for rule in layer.exclude)


def _check_global_pooling(layers: list[Layer], where: str) -> None:
    """Global pooling is exported with the kernel of the prototxt's input size, so it is only
    right where an fc layer fixes that size (a net without one takes any size)."""
    if any(layer.type == "InnerProduct" for layer in layers):
        return
    for layer in layers:
        if layer.params.get("global_pooling"):
            raise CaffeError(f"{where}: layer '{layer.name}': global pooling in a net without fc "
                             "layers is not supported (its window would stay at the prototxt's "
                             "input size while the converted net takes any size)")


@dataclass
class Graph:
    """A deploy graph read without weights: its input, its layers (each with the shapes of the
    weight blobs it expects) and its blobs."""
    name: str
    input_name: str
    input_shape: tuple[int, ...]
    layers: list[tuple[Layer, list[Shape]]]
    blobs: list[str]


def read_graph(graph: Proto, until: str | None = None, where: str = "prototxt") -> Graph:
    """The layers of a deploy graph (NetParameter, either format) up to and including `until`,
    each read by its registered type at its input's shape; no weights yet."""
    input_name, input_shape = graph_input(graph)
    if not input_name or len(input_shape) != 4:
        raise CaffeError(f"{where}: no 4-D network input declared")
    if min(input_shape) < 1:
        raise CaffeError(f"{where}: input '{input_name}': dimensions {list(input_shape)} must all "
                         "be positive")
    current = {input_name: input_name}
    shapes: dict[str, Shape] = {input_name: tuple(input_shape[1:])}
    layers: list[tuple[Layer, list[Shape]]] = []
    for proto in [*graph.layers, *graph.layer]:
        kind = layer_type(proto)
        if kind == "Input" or not _in_test_phase(proto):
            continue
        here = f"{where}: layer '{proto.name}'"
        if kind not in LAYER_TYPES:
            raise CaffeError(f"{here}: unknown layer type {kind}")
        if len(proto.bottom) != 1 or len(proto.top) != 1:
            raise CaffeError(f"{here}: needs exactly one bottom and one top")
        if proto.bottom[0] not in current:
            raise CaffeError(f"{here}: bottom '{proto.bottom[0]}' is not produced by any earlier layer")
        x = current[proto.bottom[0]]
        reading = LAYER_TYPES[kind].read(proto, shapes[x], here)
        top = proto.top[0]
        value = top if top not in current else f"{top}/{proto.name}"
        layers.append((Layer(proto.name, kind, [x], [value], [top], reading.params,
                             out_shape=reading.out_shape), list(reading.weights)))
        current[top] = value
        shapes[value] = reading.out_shape
        if proto.name == until:
            break
    else:
        if until is not None:
            raise CaffeError(f"{where}: no layer named '{until}' to stop at")
    plain = [layer for layer, _ in layers]
    _check_global_pooling(plain, where)
    _name_final_values(plain, current, input_name)
    blobs = [blob for blob in current if blob != input_name]
    return Graph(graph.name, input_name, tuple(input_shape), layers, blobs)


def _name_final_values(layers: list[Layer], current: dict[str, str], input_name: str) -> None:
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


def _fit(array: np.ndarray, expected: Shape, where: str) -> np.ndarray:
    """Accept Caffe's legacy 1-padded shapes (1×1×out×in for fc weights) for the expected shape."""
    def strip(s: Iterable[int]) -> tuple[int, ...]:
        s = tuple(s)
        return s[next((i for i, d in enumerate(s) if d != 1), len(s)):]
    if array.shape != tuple(expected) and strip(array.shape) != strip(expected):
        raise CaffeError(f"{where}: weights of shape {array.shape}, expected {tuple(expected)}")
    return array.reshape(expected)


def _no_weights(here: str, model: Caffemodel | None, earlier: set[str]) -> CaffeError:
    """The error for a layer the caffemodel has no weights for; a file whose last layer comes
    before this one in the prototxt (`earlier`) looks cut at a layer boundary."""
    message = f"{here}: no weights for this layer in the caffemodel"
    if model is not None and model.layers and model.layers[-1] in earlier:
        message += (f" ({model.path}, {model.size:,} bytes, ends after layer "
                    f"'{model.layers[-1]}': it looks truncated, unless it holds only the first "
                    "layers; then convert with --until)")
    return CaffeError(message)


def build_net(graph: Proto, weights: dict[str, list[RawBlob]], until: str | None = None,
              where: str = "prototxt", model: Caffemodel | None = None) -> CaffeNet:
    """Combine a deploy graph (NetParameter) with weights ({layer name: [RawBlob]}) into a
    CaffeNet; `model`, the Caffemodel they came from, is named in errors."""
    read = read_graph(graph, until, where)
    for i, (layer, expected) in enumerate(read.layers):
        if not expected:
            continue
        here = f"{where}: layer '{layer.name}'"
        blobs = weights.get(layer.name)
        if not blobs:
            raise _no_weights(here, model, {earlier.name for earlier, _ in read.layers[:i]})
        if len(blobs) != len(expected):
            raise CaffeError(f"{here}: {len(blobs)} weight blobs, expected {len(expected)}")
        layer.weights = [_fit(blob_array(b, f"{here} blob {j}"), e, f"{here} blob {j}")
                         for j, (b, e) in enumerate(zip(blobs, expected))]
    return CaffeNet(read.name, read.input_name, read.input_shape,
                    [layer for layer, _ in read.layers], read.blobs)


def read_net(prototxt: str | os.PathLike[str], caffemodel: str | os.PathLike[str],
             until: str | None = None) -> CaffeNet:
    """Read a deploy prototxt and a caffemodel into a CaffeNet, stopping after layer `until`."""
    graph = read_prototxt(prototxt)
    model = read_caffemodel(caffemodel)
    return build_net(graph, model.weights, until, where=os.path.basename(prototxt), model=model)
