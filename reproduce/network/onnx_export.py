"""CaffeNet -> ONNX, with onnx.helper: one node per Caffe layer, named after it, weights as
initializers (`LAYER/weight`, `LAYER/bias`), graph outputs named after the Caffe blobs.

Caffe semantics carried over exactly: pooling rounds up (`ceil_mode=1`) and AVE divides by the
window clipped to the padded image (`count_include_pad=1`, the same divisor rule as Caffe);
InnerProduct flattens C·H·W and computes x·Wᵀ + b (Gemm, transB); Dropout is the identity.
The graph outputs are the values each Caffe blob holds after a forward pass.
"""
import onnx
from onnx import TensorProto, helper, version_converter

OPSET = 17        # the file's: onnx2torch converts these operator versions
CHECK_OPSET = 22  # ONNX's shape inference with Caffe's ceil-pooling rule


def _conv(layer):
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (layer.params[k] for k in
                                              ("kernel", "stride", "pad", "dilation"))
    attrs = dict(kernel_shape=[kh, kw], strides=[sh, sw], pads=[ph, pw, ph, pw],
                 dilations=[dh, dw], group=layer.params["group"])
    return [helper.make_node("Conv", layer.inputs + _weight_names(layer), layer.outputs,
                             name=layer.name, **attrs)]


def _pool(layer):
    (kh, kw), (sh, sw), (ph, pw) = (layer.params[k] for k in ("kernel", "stride", "pad"))
    attrs = dict(kernel_shape=[kh, kw], strides=[sh, sw], pads=[ph, pw, ph, pw],
                 ceil_mode=int(layer.params["ceil"]))
    if layer.params["method"] == "MAX":
        return [helper.make_node("MaxPool", layer.inputs, layer.outputs, name=layer.name, **attrs)]
    return [helper.make_node("AveragePool", layer.inputs, layer.outputs, name=layer.name,
                             count_include_pad=1, **attrs)]


def _inner_product(layer):
    x, nodes = layer.inputs[0], []
    if layer.params["flatten"]:
        nodes.append(helper.make_node("Flatten", [x], [f"{layer.name}/flat"], axis=1,
                                      name=f"{layer.name}_flatten"))
        x = f"{layer.name}/flat"
    nodes.append(helper.make_node("Gemm", [x] + _weight_names(layer), layer.outputs,
                                  name=layer.name, transB=int(not layer.params["transpose"])))
    return nodes


def _relu(layer):
    slope = layer.params["negative_slope"]
    if slope:
        return [helper.make_node("LeakyRelu", layer.inputs, layer.outputs, name=layer.name,
                                 alpha=slope)]
    return [helper.make_node("Relu", layer.inputs, layer.outputs, name=layer.name)]


def _dropout(layer):
    return [helper.make_node("Identity", layer.inputs, layer.outputs, name=layer.name)]


def _softmax(layer):
    return [helper.make_node("Softmax", layer.inputs, layer.outputs, name=layer.name,
                             axis=layer.params["axis"])]


NODES = {"Convolution": _conv, "Pooling": _pool, "InnerProduct": _inner_product, "ReLU": _relu,
         "Dropout": _dropout, "Softmax": _softmax}


def _weight_names(layer):
    return [f"{layer.name}/{'weight' if i == 0 else 'bias'}" for i in range(len(layer.weights))]


def _dims(shape, fixed):
    """N, then C (or K), then H and W where the graph fixes them."""
    channels, *spatial = shape
    return ["N", channels] + (list(spatial) if fixed else [None] * len(spatial))


def to_onnx(net):
    """The ONNX model of a CaffeNet without its weights, and the weights [(initializer name,
    float32 array)]: the spatial input size stays free unless fc layers fix it. Checked by
    `check` before it is returned."""
    has_fc = any(layer.type == "InnerProduct" for layer in net.layers)
    _, c, h, w = net.input_shape
    spatial = [h, w] if has_fc else ["H", "W"]
    graph_input = helper.make_tensor_value_info(net.input_name, TensorProto.FLOAT,
                                                ["N", c] + spatial)
    nodes, weights = [], []
    for layer in net.layers:
        nodes += NODES[layer.type](layer)
        weights += zip(_weight_names(layer), layer.weights)
    shapes = {layer.outputs[0]: layer.out_shape for layer in net.layers}
    outputs = [helper.make_tensor_value_info(blob, TensorProto.FLOAT, _dims(shapes[blob], has_fc))
               for blob in net.blobs]
    graph = helper.make_graph(nodes, net.name or "caffe", [graph_input], outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="reproduce.convert")
    check(model, weights, net)
    return model, weights


def _with_weights_as_inputs(model, weights, input_shape=None):
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


def _at_check_opset(model):
    """The model in CHECK_OPSET, without the shapes the converter inferred at the old one."""
    converted = version_converter.convert_version(model, CHECK_OPSET)
    del converted.graph.value_info[:], converted.graph.output[:]
    converted.graph.output.extend(model.graph.output)
    return converted


def check(model, weights, net):
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
