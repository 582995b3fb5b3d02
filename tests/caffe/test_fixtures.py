"""The converter against real Caffe: every blob Caffe computed for the fixture inputs."""
import numpy as np
import onnxruntime
import pytest
import torch

from reproduce.caffe.read import read_caffemodel
from reproduce.caffe.schema import BlobProto, NetParameter
from reproduce.network import load_network
from reproduce.network.convert import convert
from tests.helpers import FIXTURES, VGG_DIV8, relative_error


def assert_blobs_match(net, input_path, blobs_path, tol=1e-5):
    caffe = np.load(blobs_path)
    x = torch.from_numpy(np.load(input_path))
    ours = net.blobs(x, caffe.files)
    assert set(ours) == set(caffe.files)
    for name in caffe.files:
        assert ours[name].shape == caffe[name].shape, name
        assert relative_error(ours[name].numpy(), caffe[name]) < tol, name


def test_lenet_reproduces_caffe(tmp_path):
    lenet = FIXTURES / "lenet"
    paths = convert(lenet / "lenet.prototxt", lenet / "lenet_iter_10000.caffemodel", tmp_path)
    assert_blobs_match(load_network(paths["onnx"]), lenet / "input.npy", lenet / "blobs.npz")


@pytest.mark.parametrize("pool", ["max", "ave"])
def test_vgg_v1_reproduces_caffe(tmp_path, pool):
    paths = convert(VGG_DIV8 / f"deploy_{pool}.prototxt", VGG_DIV8 / "vgg19_v1.caffemodel", tmp_path)
    assert_blobs_match(load_network(paths["onnx"]), VGG_DIV8 / "input.npy",
                       VGG_DIV8 / f"blobs_{pool}.npz")


def test_avg_option_equals_an_ave_prototxt(tmp_path):
    paths = convert(VGG_DIV8 / "deploy_max.prototxt", VGG_DIV8 / "vgg19_v1.caffemodel", tmp_path)
    assert_blobs_match(load_network(paths["onnx"], pooling="avg"), VGG_DIV8 / "input.npy",
                       VGG_DIV8 / "blobs_ave.npz")


CAFFE_RUNS = {  # (prototxt, caffemodel, input, blobs) of each real-Caffe fixture run
    "lenet": (FIXTURES / "lenet" / "lenet.prototxt", FIXTURES / "lenet" / "lenet_iter_10000.caffemodel",
              FIXTURES / "lenet" / "input.npy", FIXTURES / "lenet" / "blobs.npz"),
    **{f"vgg-{pool}": (VGG_DIV8 / f"deploy_{pool}.prototxt", VGG_DIV8 / "vgg19_v1.caffemodel",
                       VGG_DIV8 / "input.npy", VGG_DIV8 / f"blobs_{pool}.npz")
       for pool in ("max", "ave")},
}


@pytest.mark.parametrize("run", CAFFE_RUNS)
def test_onnxruntime_reproduces_caffe(tmp_path, run):
    """The .onnx file alone, in a second runtime: every blob by its Caffe name."""
    prototxt, caffemodel, input_path, blobs_path = CAFFE_RUNS[run]
    paths = convert(prototxt, caffemodel, tmp_path)
    session = onnxruntime.InferenceSession(paths["onnx"], providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    assert [o.name for o in session.get_outputs()] == load_network(paths["onnx"]).blob_names
    caffe = np.load(blobs_path)
    names = [name for name in caffe.files if name != graph_input.name]
    assert len(names) == len(caffe.files) - 1
    values = session.run(names, {graph_input.name: np.load(input_path)})
    for name, value in zip(names, values):
        assert value.shape == caffe[name].shape, name
        assert relative_error(value, caffe[name]) < 1e-5, name


@pytest.mark.parametrize("caffemodel", [CAFFE_RUNS["lenet"][1], CAFFE_RUNS["vgg-max"][1]],
                         ids=["lenet-v2", "vgg-v1"])
def test_the_mapped_reader_agrees_with_protobuf(caffemodel):
    """read_caffemodel walks the wire format itself to view the payloads: against protobuf
    parsing the whole file, layer names, blob headers and every float agree."""
    whole = NetParameter.FromString(caffemodel.read_bytes())
    layers = [*whole.layers, *whole.layer]
    mapped = read_caffemodel(caffemodel)
    assert mapped.layers == [layer.name for layer in layers]
    assert mapped.size == caffemodel.stat().st_size
    weighted = [layer for layer in layers if layer.blobs]
    assert list(mapped.weights) == [layer.name for layer in weighted] and weighted
    for layer in weighted:
        assert len(mapped.weights[layer.name]) == len(layer.blobs)
        for blob, raw in zip(layer.blobs, mapped.weights[layer.name]):
            header = BlobProto()
            header.CopyFrom(blob)
            header.ClearField("data")
            assert raw.proto == header
            assert raw.payload.readonly and raw.dtype == np.dtype("<f4")
            np.testing.assert_array_equal(np.frombuffer(raw.payload, raw.dtype),
                                          np.frombuffer(blob.data, "<f4"))
