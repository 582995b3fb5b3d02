"""The normalised network: each filter's mean is one, blobs are the original's over the means,
errors leave nothing behind, and a conv-only caffemodel (like vgg_normalised.caffemodel)
converts."""
import json
import pathlib

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from onnx import numpy_helper

from reproduce.caffe.net import layer_type
from reproduce.caffe.read import CaffeError
from reproduce.caffe.schema import NetParameter
from reproduce.errors import run_main
from reproduce.files import file_digest
from reproduce.image import load_image, preprocess
from reproduce.network import load_network
from reproduce.network.convert import convert
from reproduce.network.file import read_network, write_network
from reproduce.network.load import to_torch
from reproduce.network.normalise import normalise
from tests.helpers import VGG_DIV8, load_script, relative_error

SIZE = 32


def write_images(folder, shapes=((24, 32), (32, 24), (20, 28)), seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, shape in enumerate(shapes):
        iio.imwrite(folder / f"image{i}.png", rng.integers(0, 256, (*shape, 3), dtype=np.uint8))
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="module")
def normalised(small_vgg, images, tmp_path_factory):
    out = tmp_path_factory.mktemp("normalised") / "vgg19_norm.onnx"
    paths, means = normalise(small_vgg, images, str(out), size=SIZE)
    return paths, means


def conv_blobs(path):
    """The conv layers' tops from the file's layer list, in order."""
    layers = read_network(path).record["layers"]
    return [layer["top"] for layer in layers if layer["type"] == "Convolution"]


def forward(net, images, names):
    """Per image: {blob: C×H×W float64 array}."""
    return [{n: v[0].double().numpy() for n, v in
             net.blobs(preprocess(load_image(p, SIZE)), names).items()}
            for p in sorted(images.glob("*.png"))]


def pooled_means(per_image, name):
    """Per-channel mean over every position of every image."""
    flat = [blobs[name].reshape(blobs[name].shape[0], -1) for blobs in per_image]
    return np.concatenate(flat, axis=1).mean(1)


def divisors(means):
    """The means as C×1×1 divisors, 1 for a filter that never fires."""
    return np.where(means > 0, means, 1)[:, None, None]


def test_each_filter_mean_is_one(small_vgg, images, normalised):
    names = conv_blobs(small_vgg)
    before = forward(load_network(small_vgg), images, names)
    after = forward(load_network(normalised[0]["onnx"]), images, names)
    dead = 0
    for name in names:
        original, means = pooled_means(before, name), pooled_means(after, name)
        live = original > 0
        assert not np.allclose(original[live], 1, rtol=0.1), name  # there was something to do
        # 1e-4 relative, or 1e-4 of the layer's median mean in original units: a filter firing
        # faintly (mean 4e-3 in conv4_4) carries float32 rounding of its large pre-activation
        typical = np.median(original[live])
        np.testing.assert_array_less(np.abs(means[live] - 1) * original[live],
                                     1e-4 * np.maximum(original[live], typical), err_msg=name)
        assert np.all(means[~live] == 0), name
        np.testing.assert_allclose(normalised[1][name], original, rtol=1e-6, err_msg=name)
        dead += int((~live).sum())
    assert dead > 0  # the fixture has filters that never fire on these images


@pytest.mark.parametrize("pooling", [None, "avg"])
def test_blobs_are_the_originals_over_the_means(small_vgg, images, normalised, pooling):
    """Exact for both poolings: max and average pooling commute with positive scaling."""
    names = conv_blobs(small_vgg)
    original = forward(load_network(small_vgg), images, names)
    k = {n: divisors(pooled_means(original, n)) for n in names}
    before = forward(load_network(small_vgg, pooling), images, names + ["pool5"])
    after = forward(load_network(normalised[0]["onnx"], pooling), images, names + ["pool5"])
    for b, a in zip(before, after):  # in original units, where float32 rounding is uniform
        for name in names:
            assert relative_error(a[name] * k[name], b[name]) < 1e-5, name
        # conv5_4 has no next layer: pool5 is scaled by its means, not restored
        assert relative_error(a["pool5"] * k["conv5_4"], b["pool5"]) < 1e-5
        assert relative_error(a["pool5"], b["pool5"]) > 0.1


def test_provenance(small_vgg, images, normalised):
    paths, means = normalised
    source, result = read_network(small_vgg), read_network(paths["onnx"])
    assert (result.blob_names, result.input_name) == (source.blob_names, source.input_name)
    meta = result.record["normalised"]
    assert meta["source"] == dict(name=pathlib.Path(small_vgg).name, sha256=file_digest(small_vgg))
    assert meta["images"] == [dict(name=p.name, sha256=file_digest(p))
                              for p in sorted(images.glob("*.png"))]
    assert meta["size"] == SIZE and meta["means"] == means
    assert list(means) == conv_blobs(small_vgg)
    with open(paths["json"], encoding="utf-8") as f:
        record = json.load(f)
    assert record["artifacts"] == {"vgg19_norm.onnx": file_digest(paths["onnx"])}
    assert record["normalised"] == meta


def parameters(module):
    """conv1_2's and conv2_1's weights (by layer name) and conv1_2's bias, as arrays."""
    return {"conv1_2": module.conv1_2.weight.detach().numpy(),
            "conv1_2.bias": module.conv1_2.bias.detach().numpy(),
            "conv2_1": module.conv2_1.weight.detach().numpy()}


def test_dead_filter_is_left_unscaled_and_reported(small_vgg, images, tmp_path, capsys):
    read = read_network(small_vgg)
    onnx_model, blob_names, input_name, meta = read.model, read.blob_names, read.input_name, read.record
    weights = [(t.name, numpy_helper.to_array(t).copy()) for t in onnx_model.graph.initializer]
    dict(weights)["conv1_2/bias"][0] = -1e9  # never fires
    del onnx_model.graph.initializer[:]
    model = tmp_path / "dead.onnx"
    write_network(model, onnx_model, weights, blob_names, input_name, meta)
    module = to_torch(read_network(model).model)
    out = tmp_path / "out" / "dead_norm.onnx"
    argv = [str(model), "--images", str(images), "--out", str(out), "--size", str(SIZE)]
    assert run_main(load_script("normalise_vgg").main, argv) == 0
    stderr = capsys.readouterr().err
    assert "warning: conv1_2: 1 filter(s) never fire on these images, left unscaled: channels 0\n" \
        in stderr
    means = read_network(out).record["normalised"]["means"]
    means = {n: np.array(m) for n, m in means.items()}
    k11, k21 = (means[n][:, None, None] for n in ("conv1_1", "conv2_1"))
    k12 = means["conv1_2"][1]
    before, after = parameters(module), parameters(to_torch(read_network(out).model))
    assert np.all(k11 > 0) and k12 > 0 and means["conv1_2"][0] == 0
    # conv1_2 reads conv1_1: every input channel times conv1_1's mean; filter 0 not divided,
    # filter 1 divided by its mean
    np.testing.assert_allclose(after["conv1_2"][0], before["conv1_2"][0] * k11, rtol=1e-6)
    np.testing.assert_allclose(after["conv1_2"][1] * k12, before["conv1_2"][1] * k11, rtol=1e-6)
    assert after["conv1_2.bias"][0] == before["conv1_2.bias"][0] == -1e9
    np.testing.assert_allclose(after["conv1_2.bias"][1] * k12, before["conv1_2.bias"][1],
                               rtol=1e-6)
    # conv2_1 reads conv1_2 through pool1: input channel 0 times 1, channel 1 times conv1_2's mean
    np.testing.assert_allclose(after["conv2_1"][:, 0] * k21, before["conv2_1"][:, 0], rtol=1e-6)
    np.testing.assert_allclose(after["conv2_1"][:, 1] * k21, before["conv2_1"][:, 1] * k12,
                               rtol=1e-6)


def full_network(tmp_path):
    return convert(VGG_DIV8 / "deploy_max.prototxt", VGG_DIV8 / "vgg19_v1.caffemodel",
                   tmp_path, name="full")["onnx"]


@pytest.mark.parametrize("case, message", [
    ("empty folder", "no images (.png, .jpg"),
    ("missing folder", "no such image folder"),
    ("unreadable image", "bad.png: not a readable image"),
    ("not a network file", "not a readable network file"),
    ("fc layers", "layer fc6_flatten reads conv5_4's output"),
    ("size 0", "size must be a positive number"),
    ("out not .onnx", "the suffix must be one of .onnx"),
    ("out is the model", "would overwrite the input model"),
])
def test_errors_leave_no_output(small_vgg, tmp_path, capsys, case, message):
    model, folder, size = small_vgg, write_images(tmp_path / "images"), SIZE
    if case == "empty folder":
        folder = tmp_path / "empty"
        folder.mkdir()
        (folder / "notes.txt").write_text("not an image")
    elif case == "missing folder":
        folder = tmp_path / "nowhere"
    elif case == "unreadable image":
        (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    elif case == "not a network file":
        model = tmp_path / "model.onnx"
        model.write_text("not a network")
    elif case == "fc layers":
        model = full_network(tmp_path)
    elif case == "size 0":
        size = 0
    out = tmp_path / "out"
    out.mkdir()
    target = {"out not .onnx": out / "n.pt", "out is the model": model}.get(case, out / "n.onnx")
    argv = [str(model), "--images", str(folder), "--out", str(target), "--size", str(size)]
    assert run_main(load_script("normalise_vgg").main, argv) == 2
    captured = capsys.readouterr()
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last
    assert captured.out == "" and list(out.iterdir()) == []


def test_conv_only_caffemodel_converts_until_pool5(tmp_path):
    """Like the authors' vgg_normalised.caffemodel: conv layers only."""
    full = NetParameter.FromString((VGG_DIV8 / "vgg19_v1.caffemodel").read_bytes())
    conv_only = NetParameter(name=full.name)
    conv_only.layers.extend(l for l in full.layers if layer_type(l) == "Convolution")
    assert len(conv_only.layers) == 16 and len(full.layers) > 16
    caffemodel = tmp_path / "vgg_normalised.caffemodel"
    caffemodel.write_bytes(conv_only.SerializeToString())
    net = load_network(convert(VGG_DIV8 / "deploy_ave.prototxt", caffemodel, tmp_path,
                               until="pool5")["onnx"])
    caffe = np.load(VGG_DIV8 / "blobs_ave.npz")
    ours = net.blobs(torch.from_numpy(np.load(VGG_DIV8 / "input.npy")), net.blob_names)
    assert set(ours) == {n for n in caffe.files if n != "data" and not n.startswith(("fc", "prob"))}
    for name, value in ours.items():
        assert relative_error(value.numpy(), caffe[name]) < 1e-5, name
    with pytest.raises(CaffeError, match=r"layer 'fc6': no weights for this layer"):
        convert(VGG_DIV8 / "deploy_ave.prototxt", caffemodel, tmp_path / "full")
