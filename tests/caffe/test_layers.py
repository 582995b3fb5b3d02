"""The layer registry: every registered Caffe layer type, in both formats, read, exported to ONNX
and run (in torch and in onnxruntime) against the NumPy reference of Caffe's semantics
(tests/caffe/reference.py). A new layer type needs an entry in EXAMPLES and in the reference."""
import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from reproduce.caffe.layers import LAYER_TYPES
from reproduce.caffe.net import layer_type, read_graph
from reproduce.caffe.read import read_prototxt
from reproduce.caffe.schema import NetParameter, V1LayerParameter
from reproduce.caffe.synthetic import weight_shapes
from reproduce.network import load_network
from reproduce.network.convert import convert
from tests.caffe import reference
from tests.caffe.reference import Model, Spec, conv, fc, pool, relu, softmax, with_random_weights
from tests.helpers import relative_error

TOL = 1e-5
# One small net per layer type, the type under test last but for what it needs before it.
EXAMPLES = {
    "Convolution": lambda: Model((1, 3, 9, 11), [
        conv("conv", "data", num_output=4, kernel_size=3, pad=1, stride=2),
        conv("grouped", "conv", num_output=6, kernel_size=2, group=2, dilation=2)]),
    "Pooling": lambda: Model((1, 3, 9, 11), [
        pool("max", "data", pool="MAX", kernel_size=3, stride=2),
        pool("ave", "max", pool="AVE", kernel_size=2, stride=2, pad=1)]),
    "InnerProduct": lambda: Model((1, 3, 5, 4), [
        fc("fc", "data", num_output=7), fc("fc_t", "fc", num_output=3, transpose=True)]),
    "ReLU": lambda: Model((1, 3, 6, 5), [
        conv("conv", "data", num_output=4, kernel_size=3), relu("relu", "conv"),
        Spec("leaky", "ReLU", "conv", "leaky", {"relu_param": {"negative_slope": 0.1}})]),
    "Dropout": lambda: Model((1, 3, 6, 5), [
        conv("conv", "data", num_output=4, kernel_size=3),
        Spec("drop", "Dropout", "conv", "drop", {"dropout_param": {"dropout_ratio": 0.5}})]),
    "Softmax": lambda: Model((1, 3, 4, 4), [
        fc("fc", "data", num_output=6), softmax("prob", "fc")]),
}


def test_every_registered_type_has_an_example_and_a_reference():
    assert set(EXAMPLES) == set(LAYER_TYPES) == set(reference.LAYERS)
    assert set(reference.V1_NAMES[name] for name in LAYER_TYPES) == \
        {kind.v1 for kind in LAYER_TYPES.values()}


@pytest.mark.parametrize("name", sorted(LAYER_TYPES))
def test_both_formats_name_the_type(name):
    """The old format's enum name and the new format's string read as the same type."""
    v1 = V1LayerParameter(type=V1LayerParameter.LayerType.Value(LAYER_TYPES[name].v1))
    assert layer_type(v1) == name
    new = NetParameter().layer.add(type=name)
    assert layer_type(new) == name


@pytest.mark.parametrize("v1", [True, False], ids=["v1", "v2"])
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_type_converts_to_the_references_blobs(name, v1, tmp_path):
    model = with_random_weights(EXAMPLES[name]())
    prototxt, caffemodel = reference.write_model(model, tmp_path, v1=v1)
    graph = read_graph(read_prototxt(prototxt))
    assert [layer.type for layer, _ in graph.layers] == [spec.type for spec in model.layers]
    assert weight_shapes(read_prototxt(prototxt)) == {
        spec.name: [tuple(b.shape) for b in spec.blobs] for spec in model.layers if spec.blobs}
    paths = convert(prototxt, caffemodel, tmp_path)
    ops = {node.op_type for node in onnx.load(paths["onnx"]).graph.node}
    assert ops <= set(LAYER_TYPES[name].ops) | {op for spec in model.layers
                                                for op in LAYER_TYPES[spec.type].ops}
    assert set(LAYER_TYPES[name].ops) & ops  # the type's own operators, as it declares them
    x = np.random.default_rng(1).standard_normal(model.input_shape).astype(np.float32)
    expected = reference.forward(model, x)
    net = load_network(paths["onnx"])
    session = onnxruntime.InferenceSession(paths["onnx"], providers=["CPUExecutionProvider"])
    in_torch = net.blobs(torch.from_numpy(x), net.blob_names)
    in_onnxruntime = dict(zip(net.blob_names, session.run(net.blob_names, {"data": x})))
    for blob in net.blob_names:
        for ours in (in_torch[blob].numpy(), in_onnxruntime[blob]):
            assert ours.shape == expected[blob].shape, blob
            assert relative_error(ours, expected[blob]) < TOL, blob
