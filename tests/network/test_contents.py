"""A network file holds what the converter writes and nothing else, checked before its weights
are read: no weight stored elsewhere (ONNX external data, which no checksum covers), no operator
from another domain or outside the converter's, no subgraph, no impossible shape; a huge file is
refused from its size and framing without being read; a network that does not take RGB images
is refused by the method in one line. Each file here is written with a correct record, so only
these checks can catch it."""
import os
import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from reproduce.errors import ReproduceError
from reproduce.network import NetworkError, load_network, read_network, write_network
from reproduce.network.contents import ContentsError
from reproduce.run.config import TransferConfig
from reproduce.run.transfer import run_transfer
from tests.helpers import FIXTURES


def rewritten(small_vgg, folder, change):
    """The small network with `change(model, weights)` applied, written with its record."""
    read = read_network(small_vgg)
    model = onnx.ModelProto()
    model.CopyFrom(read.model)
    weights = [(t.name, numpy_helper.to_array(t)) for t in model.graph.initializer]
    del model.graph.initializer[:]
    change(model, weights)
    path = folder / "crafted.onnx"
    write_network(path, model, weights, read.blob_names, read.input_name, read.record)
    return path


def external(model, weights):
    """conv1_1's weight moved to a file beside the network: read from wherever the loader runs."""
    name, array = weights.pop(0)
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=array.shape)
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="w.bin")
    model.graph.initializer.append(tensor)


def custom_domain(model, weights):
    node = model.graph.node[1]
    node.domain = "com.example"
    model.opset_import.add(domain="com.example", version=1)


def loop(model, weights):
    body = helper.make_graph([], "body", [], [])
    model.graph.node.append(helper.make_node("Loop", ["", ""], ["never"], name="loop", body=body))


def absurd(model, weights):
    name, array = weights.pop(0)
    model.graph.initializer.append(TensorProto(name=name, data_type=TensorProto.FLOAT,
                                               dims=[1 << 20, 1 << 20], raw_data=array.tobytes()))


@pytest.mark.parametrize("change, message", [
    (external, r"weight .conv1_1/weight. is stored in another file \(ONNX external data\)"),
    (custom_domain, "uses the operator domain 'com.example'"),
    (loop, "node 'loop' is the operator Loop, which the converter never writes"),
    (absurd, r"weight 'conv1_1/weight' declares \[1048576, 1048576\]"),
])
def test_a_file_the_converter_never_writes_is_one_line(small_vgg, tmp_path, change, message):
    path = rewritten(small_vgg, tmp_path, change)
    (tmp_path / "w.bin").write_bytes(np.zeros(8 * 3 * 3 * 3, np.float32).tobytes())
    with pytest.raises(ContentsError, match=message) as error:
        load_network(path)
    assert isinstance(error.value, ReproduceError) and "\n" not in str(error.value)


def test_a_huge_file_is_refused_without_being_read(small_vgg, tmp_path):
    """6 GB that are not a network (a sparse file: no disk is spent): refused in well under a
    second, from its framing, before its record or its checksum are looked at."""
    path = rewritten(small_vgg, tmp_path, lambda model, weights: None)
    with open(path, "r+b") as f:
        f.truncate(6 << 30)
    started = time.monotonic()
    with pytest.raises(NetworkError, match="not a readable network file|bytes, not the") as error:
        load_network(path)
    assert time.monotonic() - started < 5 and "\n" not in str(error.value)


def test_a_network_that_does_not_take_rgb_images_is_one_line(tmp_path):
    """LeNet (1 channel) converts, but the method needs RGB images."""
    from reproduce.network.convert import convert
    lenet = convert(FIXTURES / "lenet" / "lenet.prototxt",
                    FIXTURES / "lenet" / "lenet_iter_10000.caffemodel", tmp_path)["onnx"]
    config = TransferConfig(content=str(FIXTURES / ".." / ".." / "data" / "inputs" / "tubingen.jpg"),
                            model=lenet, content_layers=("conv1",), output=str(tmp_path / "o.png"),
                            size=28, device="cpu")
    with pytest.raises(NetworkError, match="the network takes 1-channel input; the method needs"):
        run_transfer(config, progress=False)
    assert not os.path.exists(config.output)
