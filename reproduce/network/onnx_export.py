"""CaffeNet -> ONNX, with onnx.helper: each Caffe layer becomes the nodes its registered type
makes (reproduce.caffe.layers), named after it, weights as initializers (`LAYER/weight`,
`LAYER/bias`), graph outputs named after the Caffe blobs: the values each holds after a forward
pass."""
import onnx
from onnx import TensorProto, helper, version_converter

from reproduce.caffe.layers import LAYER_TYPES
from reproduce.caffe.layers.registry import Shape, weight_names
from reproduce.caffe.net import CaffeNet
from reproduce.network.file import Weights

OPSET = 17        # the file's: onnx2torch converts these operator versions
CHECK_OPSET = 22  # ONNX's shape inference with Caffe's ceil-pooling rule


def _dims(shape: Shape, fixed: bool) -> list[str | int | None]:
    """N, then C (or K), then H and W where the graph fixes them."""
    channels, *spatial = shape
    free: list[str | int | None] = [None] * len(spatial)
    return ["N", channels, *(spatial if fixed else free)]


def to_onnx(net: CaffeNet) -> tuple[onnx.ModelProto, Weights]:
    """The ONNX model of a CaffeNet without its weights, and the weights [(initializer name,
    float32 array)]: the spatial input size stays free unless fc layers fix it. Checked by
    `check` before it is returned."""
    has_fc = any(layer.type == "InnerProduct" for layer in net.layers)
    _, c, h, w = net.input_shape
    spatial: list[str | int | None] = [h, w] if has_fc else ["H", "W"]
    graph_input = helper.make_tensor_value_info(net.input_name, TensorProto.FLOAT,
                                                ["N", c, *spatial])
    nodes: list[onnx.NodeProto] = []
    weights: Weights = []
    for layer in net.layers:
        nodes += LAYER_TYPES[layer.type].nodes(layer)
        weights += zip(weight_names(layer), layer.weights)
    shapes = {layer.outputs[0]: layer.out_shape for layer in net.layers}
    outputs = [helper.make_tensor_value_info(blob, TensorProto.FLOAT, _dims(shapes[blob], has_fc))
               for blob in net.blobs]
    graph = helper.make_graph(nodes, net.name or "caffe", [graph_input], outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="reproduce.convert")
    check(model, weights, net)
    return model, weights


def _with_weights_as_inputs(model: onnx.ModelProto, weights: Weights,
                            input_shape: tuple[int, ...] | None = None) -> onnx.ModelProto:
    """A copy of the model whose weights are typed graph inputs (no data), optionally with the
    input's shape fixed: what the checker and shape inference need, without the payloads."""
    checked = onnx.ModelProto()
    checked.CopyFrom(model)
    graph = checked.graph
    if input_shape is not None:
        graph.input[0].CopyFrom(helper.make_tensor_value_info(
            graph.input[0].name, TensorProto.FLOAT, list(input_shape)))
    graph.input.extend(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(array.shape))
                       for name, array in weights)
    return checked


def _at_check_opset(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model in CHECK_OPSET, without the shapes the converter inferred at the old one."""
    converted = version_converter.convert_version(model, CHECK_OPSET)
    del converted.graph.value_info[:], converted.graph.output[:]
    converted.graph.output.extend(model.graph.output)
    return converted


def check(model: onnx.ModelProto, weights: Weights, net: CaffeNet) -> None:
    """ONNX's checker on the model as written, then its full check (shape inference included)
    and, at the prototxt's input size, every blob's inferred shape against the converter's.
    Those two run on the model in opset CHECK_OPSET, whose pooling shape rule is Caffe's: a last
    ceil-mode window starting in the padding is dropped. Inference at OPSET keeps it, though
    runtimes (onnxruntime, onnx2torch) drop it at any opset. A disagreement is a converter bug."""
    onnx.checker.check_model(_with_weights_as_inputs(model, weights))
    onnx.checker.check_model(_at_check_opset(_with_weights_as_inputs(model, weights)),
                             full_check=True)
    inferred = onnx.shape_inference.infer_shapes(
        _at_check_opset(_with_weights_as_inputs(model, weights, net.input_shape)),
        strict_mode=True)
    values = {v.name: v for v in [*inferred.graph.value_info, *inferred.graph.output]}
    for layer in net.layers:
        dims = [d.dim_value for d in values[layer.outputs[0]].type.tensor_type.shape.dim][1:]
        if dims != list(layer.out_shape):
            raise AssertionError(f"layer {layer.name}: ONNX infers {dims}, the converter "
                                 f"{list(layer.out_shape)}")
