"""What a network file may hold, checked from its framing before its weights are read: the
structure the converter writes and nothing else. A file that passes is self-contained (no weight
read from anywhere but itself), uses only the ONNX operators the registered Caffe layer types
make, in ONNX's own domain, and has weights whose declared shapes match the bytes they hold.

The file is scanned as the caffemodel is (reproduce.protowire): every message but the weights'
payloads is parsed, so a check costs the file's headers, not its size."""
import math
from dataclasses import dataclass

import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto

from reproduce.caffe.layers import onnx_ops
from reproduce.network import NetworkError
from reproduce.protowire import LENGTH_DELIMITED, fields

MODEL_GRAPH, MODEL_FUNCTIONS = 7, 25                           # ModelProto
GRAPH_INITIALIZER, GRAPH_SPARSE_INITIALIZER = 5, 15            # GraphProto
TENSOR_RAW_DATA = 9                                            # TensorProto
ONNX_DOMAINS = ("", "ai.onnx")
MAX_WEIGHT_BYTES = 1 << 34       # 16 GiB: far beyond any VGG (548 MiB), below absurd


class ContentsError(NetworkError):
    """A network file that holds what the converter never writes."""


@dataclass
class Skeleton:
    """A network file without its weights' bytes: the model with empty initializers, and the
    number of bytes each initializer's raw data holds in the file."""
    model: onnx.ModelProto
    raw_bytes: dict[str, int]


def _tensor(buf: memoryview, start: int, end: int) -> tuple[TensorProto, int]:
    """A TensorProto without its raw data, and that data's length in bytes."""
    rest, raw = bytearray(), 0
    for number, wire, field_start, value_start, value_end in fields(buf, start, end):
        if number == TENSOR_RAW_DATA and wire == LENGTH_DELIMITED:
            raw += value_end - value_start
        else:
            rest += buf[field_start:value_end]
    return TensorProto.FromString(bytes(rest)), raw


def skeleton(buf: memoryview) -> Skeleton:
    """The model in `buf` with its initializers' raw data left unread (and recorded by size)."""
    model_bytes, raw_bytes = bytearray(), dict[str, int]()
    for number, wire, field_start, value_start, value_end in fields(buf, 0, len(buf)):
        if number != MODEL_GRAPH or wire != LENGTH_DELIMITED:
            model_bytes += buf[field_start:value_end]
            continue
        graph = onnx.GraphProto()
        for g_number, g_wire, g_start, v_start, v_end in fields(buf, value_start, value_end):
            if g_number == GRAPH_INITIALIZER and g_wire == LENGTH_DELIMITED:
                tensor, raw = _tensor(buf, v_start, v_end)
                raw_bytes[tensor.name] = raw_bytes.get(tensor.name, 0) + raw
                graph.initializer.append(tensor)
            else:
                graph.MergeFromString(bytes(buf[g_start:v_end]))
        model_bytes += graph_field(graph)
    return Skeleton(onnx.ModelProto.FromString(bytes(model_bytes)), raw_bytes)


def graph_field(graph: onnx.GraphProto) -> bytes:
    """`graph` as a ModelProto's graph field (protobuf merges repeated occurrences)."""
    model = onnx.ModelProto()
    model.graph.CopyFrom(graph)
    return model.SerializeToString()


def check_contents(path: str, buf: memoryview) -> None:
    """One line naming what is wrong unless the file in `buf` holds what the converter writes."""
    try:
        found = skeleton(buf)
    except DecodeError as e:
        raise ContentsError(f"{path}: not a readable network file ({e})") from None
    model, graph = found.model, found.model.graph
    if model.functions or graph.sparse_initializer:
        raise ContentsError(f"{path}: holds ONNX functions or sparse weights, which the converter "
                            "never writes")
    domains = {opset.domain for opset in model.opset_import} - set(ONNX_DOMAINS)
    if domains:
        raise ContentsError(f"{path}: uses the operator domain {sorted(domains)[0]!r}; a network "
                            "file holds ONNX's own operators only")
    allowed = onnx_ops()
    for node in graph.node:
        if node.domain not in ONNX_DOMAINS or node.op_type not in allowed:
            raise ContentsError(f"{path}: node {node.name or node.op_type!r} is the operator "
                                f"{node.domain + '.' if node.domain else ''}{node.op_type}, which "
                                f"the converter never writes (it writes {', '.join(sorted(allowed))})")
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS, onnx.AttributeProto.TENSOR,
                          onnx.AttributeProto.TENSORS) for a in node.attribute):
            raise ContentsError(f"{path}: node {node.name!r} carries a subgraph or a tensor in an "
                                "attribute, which the converter never writes")
    _check_input(path, graph)
    total = 0
    for tensor in graph.initializer:
        total += _check_weight(path, tensor, found.raw_bytes.get(tensor.name, 0))
        if total > MAX_WEIGHT_BYTES:
            raise ContentsError(f"{path}: its weights would take more than "
                                f"{MAX_WEIGHT_BYTES / 2**30:.0f} GiB")


def _check_input(path: str, graph: onnx.GraphProto) -> None:
    names = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in names]
    if len(inputs) != 1:
        raise ContentsError(f"{path}: has {len(inputs)} inputs; a network file has one")
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != 4 or dims[1].dim_value < 1:
        shape = [d.dim_value or d.dim_param for d in dims]
        raise ContentsError(f"{path}: its input is {shape}; a network file takes N×C×H×W")


def _check_weight(path: str, tensor: TensorProto, raw: int) -> int:
    """The bytes of one weight tensor, or one line on what is wrong with it."""
    here = f"{path}: weight {tensor.name!r}"
    if tensor.data_location == TensorProto.EXTERNAL or tensor.external_data:
        raise ContentsError(f"{here} is stored in another file (ONNX external data), which no "
                            "checksum covers; a network file holds its weights itself")
    if tensor.data_type != TensorProto.FLOAT:
        raise ContentsError(f"{here} is not float32")
    if any(d < 1 for d in tensor.dims) or len(tensor.dims) > 4:
        raise ContentsError(f"{here} has the impossible shape {list(tensor.dims)}")
    size = math.prod(tensor.dims) * 4
    if size > MAX_WEIGHT_BYTES or raw != size or tensor.float_data:
        raise ContentsError(f"{here} declares {list(tensor.dims)} (float32, {size:,} bytes) but "
                            f"holds {raw:,} bytes")
    return size
