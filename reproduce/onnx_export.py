"""CaffeNet -> ONNX, with onnx.helper: one node per Caffe layer, named after it, weights as initializers.

Caffe semantics carried over exactly: pooling rounds up (`ceil_mode=1`) and AVE divides by the
window clipped to the padded image (`count_include_pad=1`, the same divisor rule as Caffe);
InnerProduct flattens C·H·W and computes x·Wᵀ + b (Gemm, transB); Dropout is the identity.
The graph outputs are the values each Caffe blob holds after a forward pass.
"""
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


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
    """Build and check the ONNX model of a CaffeNet; spatial input size stays free unless fc
    layers fix it."""
    has_fc = any(layer.type == "InnerProduct" for layer in net.layers)
    _, c, h, w = net.input_shape
    spatial = [h, w] if has_fc else ["H", "W"]
    graph_input = helper.make_tensor_value_info(net.input_name, TensorProto.FLOAT,
                                                ["N", c] + spatial)
    nodes, initializers = [], []
    for layer in net.layers:
        nodes += NODES[layer.type](layer)
        initializers += [numpy_helper.from_array(array, name)
                         for array, name in zip(layer.weights, _weight_names(layer))]
    shapes = {layer.outputs[0]: layer.out_shape for layer in net.layers}
    outputs = [helper.make_tensor_value_info(value, TensorProto.FLOAT, _dims(shapes[value], has_fc))
               for value in net.blob_values.values()]
    graph = helper.make_graph(nodes, net.name or "caffe", [graph_input], outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="reproduce.convert")
    onnx.checker.check_model(model)
    return model
