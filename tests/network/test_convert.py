"""The converter against an independent NumPy reading of Caffe (tests/caffe_reference.py), on
synthetic models in both file formats, and on the real VGG-19 deploy prototxt."""

import numpy as np
import pytest
import torch

from reproduce.caffe.net import build_net
from reproduce.caffe.read import CaffeError, RawBlob, read_prototxt
from reproduce.caffe.schema import BlobProto
from reproduce.caffe.synthetic import blob_proto
from reproduce.network import NetworkError, load_network
from reproduce.network.convert import convert
from tests.caffe.reference import (
    Model,
    caffemodel_bytes,
    conv,
    dropout,
    fc,
    forward,
    model_from_files,
    pool,
    relu,
    softmax,
    with_random_weights,
    write_model,
)
from tests.helpers import FIXTURES, ROOT, VGG_DIV8, relative_error

TOL = 1e-5
DEPLOY = ROOT / "models" / "VGG_ILSVRC_19_layers_deploy.prototxt"


def vgg_block(c=3, h=37, w=53):
    """VGG's layout in small: in-place ReLU and Dropout, 2×2 ceil pools, fc layers, softmax."""
    return Model((1, c, h, w), [
        conv("conv1", "data", num_output=8, pad=1, kernel_size=3), relu("relu1", "conv1"),
        conv("conv2", "conv1", num_output=8, pad=1, kernel_size=3), relu("relu2", "conv2"),
        pool("pool1", "conv2", pool="MAX", kernel_size=2, stride=2),
        conv("conv3", "pool1", num_output=16, pad=1, kernel_size=3), relu("relu3", "conv3"),
        pool("pool2", "conv3", pool="AVE", kernel_size=2, stride=2),
        fc("fc1", "pool2", num_output=10), relu("relu4", "fc1"), dropout("drop1", "fc1"),
        fc("fc2", "fc1", num_output=5), softmax("prob", "fc2")])


def padded_pools():
    """Strided 5×5 conv, 3×3 stride-2 pad-1 pools of both kinds, a 1×1 conv with no bias."""
    return Model((2, 3, 13, 9), [
        conv("conv1", "data", num_output=6, kernel_size=5, stride=2, pad=2), relu("relu1", "conv1"),
        pool("pool1", "conv1", pool="MAX", kernel_size=3, stride=2, pad=1),
        pool("pool2", "pool1", pool="AVE", kernel_size=3, stride=2, pad=1),
        conv("conv2", "pool2", num_output=4, kernel_size=1, bias_term=False)])


def rectangular():
    """kernel_h/kernel_w, stride_h/stride_w, pad_h/pad_w, and a repeated `pad` with two values."""
    return Model((1, 3, 13, 9), [
        conv("conv1", "data", num_output=5, kernel_h=3, kernel_w=1, pad_h=1, pad_w=0,
             stride_h=1, stride_w=2),
        conv("conv2", "conv1", num_output=4, kernel_size=[3, 2], pad=[0, 1]),
        relu("relu2", "conv2"),
        pool("pool1", "conv2", pool="MAX", kernel_h=2, kernel_w=3, stride_h=2, stride_w=1),
        pool("pool2", "pool1", pool="AVE", kernel_h=3, kernel_w=2, stride_h=2, stride_w=2,
             pad_h=1, pad_w=0)])


def groups_and_dilation():
    """Grouped and dilated convolutions with leaky ReLUs."""
    return Model((1, 4, 13, 9), [
        conv("conv1", "data", num_output=6, kernel_size=3, pad=2, dilation=2, group=2),
        relu("relu1", "conv1", negative_slope=0.1),
        conv("conv2", "conv1", num_output=6, kernel_size=3, stride=2, group=3),
        relu("relu2", "conv2", negative_slope=0.25)])


def transposed_fc():
    """An fc layer after a padded pool, its weights stored K × out (transpose: true)."""
    return Model((1, 3, 13, 9), [
        conv("conv1", "data", num_output=4, kernel_size=3), relu("relu1", "conv1"),
        pool("pool1", "conv1", pool="MAX", kernel_size=3, stride=2, pad=1),
        fc("fc1", "pool1", num_output=7, transpose=True),
        fc("fc2", "fc1", num_output=3, bias_term=False), softmax("prob", "fc2")])


def tiny():
    """A 1×1 input: a padded conv, a 2×2 ceil pool that still yields one value, fc."""
    return Model((1, 2, 1, 1), [
        conv("conv1", "data", num_output=3, kernel_size=3, pad=1),
        pool("pool1", "conv1", pool="AVE", kernel_size=2, stride=2),
        fc("fc1", "pool1", num_output=2)])


def clipped_windows():
    """Pools whose last ceil window would start in the padding (Caffe drops it: 5 -> 3, not 4),
    also on an unpadded axis of a padded layer (6 -> 2 with stride 3), and FLOOR rounding."""
    return Model((1, 2, 5, 6), [
        pool("pool1", "data", pool="MAX", kernel_size=2, stride=2, pad=1),
        pool("pool2", "data", pool="AVE", kernel_size=2, stride=2, pad=1),
        pool("pool3", "data", pool="MAX", kernel_size=2, stride_h=2, stride_w=3, pad_h=1, pad_w=0),
        pool("pool4", "data", pool="MAX", kernel_size=3, stride=2, round_mode="FLOOR")])


def global_pooling():
    return Model((1, 3, 13, 9), [
        conv("conv1", "data", num_output=4, kernel_size=3), relu("relu1", "conv1"),
        pool("pool1", "conv1", pool="AVE", global_pooling=True), fc("fc1", "pool1", num_output=3)])


# name: (model, write options, input sizes (H, W); None = the prototxt's own)
CASES = {
    "vgg-block-v1-legacy": (vgg_block, dict(v1=True, legacy=True), [None]),
    "vgg-block-v2-shape-double": (vgg_block, dict(v1=False, legacy=False, double=True), [None]),
    "padded-pools-v2": (padded_pools, dict(v1=False, legacy=False),
                        [None, (37, 53), (1, 1), (2, 3), (6, 5)]),
    "padded-pools-v1-double": (padded_pools, dict(v1=True, legacy=True, double=True), [(17, 4)]),
    "rectangular-v1-shape": (rectangular, dict(v1=True, legacy=False), [None, (37, 53), (6, 7)]),
    "groups-dilation-v2-legacy-double": (groups_and_dilation, dict(v1=False, legacy=True,
                                                                   double=True), [None, (9, 13)]),
    "transposed-fc-v2": (transposed_fc, dict(v1=False, legacy=False), [None]),
    "transposed-fc-v1-legacy": (transposed_fc, dict(v1=True, legacy=True), [None]),
    "tiny-v1": (tiny, dict(v1=True), [None]),
    "clipped-windows-v2": (clipped_windows, dict(v1=False), [None, (13, 9), (3, 4)]),
    "global-pooling-v2": (global_pooling, dict(v1=False), [None]),
}


def assert_matches_reference(net, model, x, names=None):
    """Every blob (or those named) of the converted net against the reference, to TOL of its max."""
    expected = forward(model, x)
    names = names or net.blob_names
    ours = net.blobs(torch.from_numpy(x), names)
    assert set(ours) == set(names) and set(names) <= set(expected)
    for name in names:
        assert tuple(ours[name].shape) == expected[name].shape, name
        assert relative_error(ours[name].numpy(), expected[name]) < TOL, name


def random_input(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_reference_reproduces_real_caffe():
    """The reference itself against the blobs real Caffe computed for the fixtures."""
    for prototxt, caffemodel, folder, blobs in [
            ("deploy_max.prototxt", "vgg19_v1.caffemodel", VGG_DIV8, "blobs_max.npz"),
            ("deploy_ave.prototxt", "vgg19_v1.caffemodel", VGG_DIV8, "blobs_ave.npz"),
            ("lenet.prototxt", "lenet_iter_10000.caffemodel", FIXTURES / "lenet", "blobs.npz")]:
        model = model_from_files(folder / prototxt, folder / caffemodel)
        caffe = np.load(folder / blobs)
        ours = forward(model, np.load(folder / "input.npy"))
        for name in caffe.files:
            assert relative_error(ours[name], caffe[name]) < TOL, (prototxt, name)


@pytest.mark.parametrize("case", CASES)
def test_converted_blobs_match_the_reference(case, tmp_path):
    make, options, sizes = CASES[case]
    model = with_random_weights(make())
    paths = convert(*write_model(model, tmp_path, **options), tmp_path)
    net = load_network(paths["onnx"])
    assert net.blob_names == list(dict.fromkeys(layer.top for layer in model.layers))
    n, c, *spatial = model.input_shape
    for size in sizes:
        assert_matches_reference(net, model, random_input((n, c, *(size or spatial))))


def test_until_stops_the_graph(tmp_path):
    model = with_random_weights(vgg_block())
    paths = convert(*write_model(model, tmp_path), tmp_path, until="relu3")
    net = load_network(paths["onnx"])
    assert net.blob_names == ["conv1", "conv2", "pool1", "conv3"]
    assert [layer["name"] for layer in net.meta["layers"]][-1] == "relu3"
    with pytest.raises(NetworkError, match="unknown layer pool2"):
        net.blobs(torch.zeros(1, 3, 8, 8), ["pool2"])
    head = Model(model.input_shape, model.layers[:7])
    assert_matches_reference(net, head, random_input((1, 3, 21, 10)))


@pytest.mark.parametrize("make", [vgg_block, padded_pools, rectangular])
def test_avg_option_equals_a_prototxt_with_ave(make, tmp_path):
    """pooling='avg' on the max-pool net == the same net written with `pool: AVE` == reference."""
    model = with_random_weights(make())
    averaged = Model(model.input_shape, [
        pool(layer.name, layer.bottom, **dict(layer.params["pooling_param"], pool="AVE"))
        if layer.type == "Pooling" else layer for layer in model.layers], name="averaged")
    swapped = load_network(convert(*write_model(model, tmp_path), tmp_path)["onnx"],
                           pooling="avg")
    written = load_network(convert(*write_model(averaged, tmp_path), tmp_path)["onnx"])
    x = random_input(model.input_shape)
    a = swapped.blobs(torch.from_numpy(x), swapped.blob_names)
    b = written.blobs(torch.from_numpy(x), written.blob_names)
    assert swapped.blob_names == written.blob_names
    for name in swapped.blob_names:
        assert torch.equal(a[name], b[name]), name
    assert_matches_reference(swapped, averaged, x)


# --- the real VGG-19 deploy prototxt ---

VGG19 = [(1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512)]  # block, convs, width


def vgg19_conv_part():
    """VGG-19 up to pool5 as the paper describes it (3×3 pad-1 convs, 2×2 max pools), written
    independently of the deploy prototxt."""
    layers = []
    bottom = "data"
    for block, convs, width in VGG19:
        for i in range(1, convs + 1):
            name = f"conv{block}_{i}"
            layers += [conv(name, bottom, num_output=width, pad=1, kernel_size=3),
                       relu(f"relu{block}_{i}", name)]
            bottom = name
        layers.append(pool(f"pool{block}", bottom, pool="MAX", kernel_size=2, stride=2))
        bottom = f"pool{block}"
    return Model((1, 3, 37, 53), layers, name="VGG_ILSVRC_19_layers")


@pytest.fixture(scope="module")
def vgg19(tmp_path_factory):
    """(model, converted network file): the real deploy prototxt until pool5, with random conv
    weights in a legacy-dims V1 caffemodel (the 2014 file's layout, 80 MB)."""
    folder = tmp_path_factory.mktemp("vgg19")
    model = with_random_weights(vgg19_conv_part())
    caffemodel = folder / "vgg19_conv.caffemodel"
    caffemodel.write_bytes(caffemodel_bytes(model, v1=True, legacy=True))
    return model, convert(DEPLOY, caffemodel, folder, until="pool5")["onnx"]


def test_real_deploy_prototxt_converts_and_matches(vgg19):
    model, path = vgg19
    net = load_network(path)
    assert net.blob_names == list(dict.fromkeys(layer.top for layer in model.layers))
    assert net.meta["layers"][-1]["shape"] == [512, 7, 7]  # pool5 at the prototxt's 224×224
    assert_matches_reference(net, model, 50 * random_input(model.input_shape),
                             ["conv1_1", "pool1", "conv2_1", "conv3_4", "pool5"])


def test_real_deploy_prototxt_infers_fc6_input_25088(vgg19):
    """Shape inference through the whole deploy net: fc6 expects 512·7·7 = 25088 inputs at
    224×224 (checked with a wrong fc6 blob, so that no 400 MB weights are needed)."""
    model, _ = vgg19
    weights = {}
    for layer in model.layers:
        if layer.blobs:
            weights[layer.name] = [BlobProto() for _ in layer.blobs]
            for blob, array in zip(weights[layer.name], layer.blobs):
                blob_proto(blob, array)
    weights["fc6"] = [BlobProto(), BlobProto()]
    blob_proto(weights["fc6"][0], np.zeros((4096, 7), np.float32))
    blob_proto(weights["fc6"][1], np.zeros(4096, np.float32))
    weights = {name: [RawBlob.of(b) for b in blobs] for name, blobs in weights.items()}
    with pytest.raises(CaffeError, match=r"fc6.*expected \(4096, 25088\)"):
        build_net(read_prototxt(DEPLOY), weights)
