"""Bad Caffe input: one clear line (a CaffeError, a ReproduceError) and nothing in the output
folder, through `convert` and through scripts/convert_caffe.py."""
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from reproduce.caffe.read import CaffeError
from reproduce.caffe.schema import NetParameter
from reproduce.errors import ReproduceError
from reproduce.network.convert import convert
from tests.caffe.reference import Model, Spec, conv, fc, pool, relu, with_random_weights, write_model
from tests.helpers import ROOT

SCRIPT = ROOT / "scripts" / "convert_caffe.py"


def small_net(*extra):
    """conv -> relu -> pool with random weights, then `extra` layers without weights."""
    model = with_random_weights(Model((1, 3, 9, 11), [
        conv("conv1", "data", num_output=4, kernel_size=3, pad=1), relu("relu1", "conv1"),
        pool("pool1", "conv1", pool="MAX", kernel_size=2, stride=2)]))
    model.layers += extra
    return model


def edit_caffemodel(path, edit):
    """Rewrite a caffemodel after `edit(NetParameter)`."""
    net = NetParameter()
    net.ParseFromString(path.read_bytes())
    edit(net)
    path.write_bytes(net.SerializeToString())


# Each case writes a valid net into a folder, spoils it, and returns (prototxt, caffemodel, until).
def truncated(folder):
    prototxt, caffemodel = write_model(small_net(), folder)
    caffemodel.write_bytes(caffemodel.read_bytes()[:caffemodel.stat().st_size // 2])
    return prototxt, caffemodel, None


def corrupt(folder):
    prototxt, caffemodel = write_model(small_net(), folder)
    data = bytearray(caffemodel.read_bytes())
    data[:16] = b"\xff" * 16
    caffemodel.write_bytes(bytes(data))
    return prototxt, caffemodel, None


def empty(folder):
    prototxt, caffemodel = write_model(small_net(), folder)
    caffemodel.write_bytes(b"")
    return prototxt, caffemodel, None


def text_as_caffemodel(folder):
    prototxt, _ = write_model(small_net(), folder)
    return prototxt, prototxt, None


def no_weights(folder):
    return (*write_model(small_net(fc("fc1", "pool1", num_output=3)), folder), None)


def wrong_shape(folder):
    model = small_net()
    model.layers[0].blobs[0] = np.zeros((4, 3, 5, 5), np.float32)
    return (*write_model(model, folder), None)


def missing_bias(folder):
    prototxt, caffemodel = write_model(small_net(), folder)
    edit_caffemodel(caffemodel, lambda net: net.layers[0].blobs.pop())
    return prototxt, caffemodel, None


def extra_blob(folder):
    prototxt, caffemodel = write_model(small_net(), folder)
    edit_caffemodel(caffemodel, lambda net: net.layers[0].blobs.add().CopyFrom(
        net.layers[0].blobs[1]))
    return prototxt, caffemodel, None


def short_blob(folder):
    prototxt, caffemodel = write_model(small_net(), folder)

    def cut(net):
        blob = net.layers[0].blobs[0]
        blob.data = blob.data[:-4]
    edit_caffemodel(caffemodel, cut)
    return prototxt, caffemodel, None


def ragged_blob(folder):
    prototxt, caffemodel = write_model(small_net(), folder)

    def cut(net):
        net.layers[0].blobs[1].data = net.layers[0].blobs[1].data[:-1]
    edit_caffemodel(caffemodel, cut)
    return prototxt, caffemodel, None


def unknown_v1_type(folder):
    return (*write_model(small_net(Spec("norm1", "LRN", "pool1", "norm1")), folder), None)


def unknown_v2_type(folder):
    prototxt, caffemodel = write_model(small_net(), folder, v1=False)
    prototxt.write_text(prototxt.read_text() + 'layer {\n  name: "sum"\n  type: "Eltwise"\n'
                        '  bottom: "pool1"\n  bottom: "conv1"\n  top: "sum"\n}\n')
    return prototxt, caffemodel, None


def missing_prototxt(folder):
    _, caffemodel = write_model(small_net(), folder)
    return folder / "absent.prototxt", caffemodel, None


def missing_caffemodel(folder):
    prototxt, _ = write_model(small_net(), folder)
    return prototxt, folder / "absent.caffemodel", None


def folder_as_caffemodel(folder):
    prototxt, _ = write_model(small_net(), folder)
    return prototxt, folder, None


def no_such_until(folder):
    return (*write_model(small_net(), folder), "conv9")


def syntax_error(folder):
    prototxt, caffemodel = write_model(small_net(), folder)
    prototxt.write_text(prototxt.read_text() + "layers {\n")
    return prototxt, caffemodel, None


def no_input(folder):
    prototxt, caffemodel = write_model(small_net(), folder)
    prototxt.write_text("\n".join(line for line in prototxt.read_text().splitlines()
                                  if not line.startswith("input")))
    return prototxt, caffemodel, None


def dangling_bottom(folder):
    prototxt, caffemodel = write_model(small_net(), folder)
    prototxt.write_text(prototxt.read_text().replace('bottom: "conv1"', 'bottom: "conv0"', 1))
    return prototxt, caffemodel, None


def stochastic_pooling(folder):
    prototxt, caffemodel = write_model(small_net(), folder)
    prototxt.write_text(prototxt.read_text().replace("pool: MAX", "pool: STOCHASTIC"))
    return prototxt, caffemodel, None


def stride_beyond_kernel(folder):
    """Unpadded pooling with stride > kernel: Caffe's ceil size for 10 rows, kernel 1, stride 4
    is 4 (windows at 0, 4, 8, 12), the last one outside the image; torch would give 3."""
    model = small_net(pool("pool2", "pool1", pool="MAX", kernel_size=1, stride=4))
    model.input_shape = (1, 3, 20, 20)
    return (*write_model(model, folder), None)


def global_pooling_any_size(folder):
    return (*write_model(small_net(pool("pool2", "pool1", pool="AVE", global_pooling=True)),
                         folder), None)


def edit_prototxt(old, new):
    """A case: the small net with `old` replaced by `new` in its prototxt."""
    def spoil(folder):
        prototxt, caffemodel = write_model(small_net(), folder)
        assert old in prototxt.read_text()
        prototxt.write_text(prototxt.read_text().replace(old, new, 1))
        return prototxt, caffemodel, None
    spoil.__name__ = f"{old} -> {new}".replace("\n", " ")
    return spoil


def non_finite(value, blob):
    def spoil(folder):
        model = small_net()
        model.layers[0].blobs[blob].flat[1] = value
        return (*write_model(model, folder), None)
    spoil.__name__ = f"{value} in blob {blob}"
    return spoil


def cut_at_a_layer_boundary(folder):
    """The file ends after pool1; the prototxt goes on to fc1."""
    model = with_random_weights(Model((1, 3, 9, 11), [
        conv("conv1", "data", num_output=4, kernel_size=3, pad=1), relu("relu1", "conv1"),
        pool("pool1", "conv1", pool="MAX", kernel_size=2, stride=2),
        fc("fc1", "pool1", num_output=3)]))
    prototxt, caffemodel = write_model(model, folder)
    edit_caffemodel(caffemodel, lambda net: net.layers.pop())
    return prototxt, caffemodel, None


CASES = {
    edit_prototxt("kernel_size: 3", "kernel_size: 3\n    stride: 0"):
        r"layer 'conv1': stride 0×0 must be positive",
    edit_prototxt("stride: 2", "stride: 0"): r"layer 'pool1': stride 0×0 must be positive",
    edit_prototxt("kernel_size: 2", "kernel_size: 0"): r"layer 'pool1': kernel 0×0 must be positive",
    edit_prototxt("kernel_size: 3", "kernel_size: 13"):
        r"layer 'conv1': kernel 13×13 is larger than its padded input 11×13",
    edit_prototxt("kernel_size: 2", "kernel_size: 20"):
        r"layer 'pool1': kernel 20×20 is larger than its padded input 9×11",
    edit_prototxt("input_dim: 9", "input_dim: 0"):
        r"input 'data': dimensions \[1, 3, 0, 11\] must all be positive",
    edit_prototxt("input_dim: 3", "input_dim: -3"):
        r"input 'data': dimensions \[1, -3, 9, 11\] must all be positive",
    non_finite(np.nan, 0): r"layer 'conv1' blob 0: non-finite weights",
    non_finite(-np.inf, 1): r"layer 'conv1' blob 1: non-finite weights",
    cut_at_a_layer_boundary: r"layer 'fc1': no weights for this layer in the caffemodel \(.*"
                             r"synthetic.caffemodel, [0-9,]+ bytes, ends after layer 'pool1': "
                             r"it looks truncated",

    truncated: r"truncated or corrupt caffemodel",
    corrupt: r"truncated or corrupt caffemodel",
    empty: r"not a caffemodel \(no layers found\)",
    text_as_caffemodel: r"truncated or corrupt caffemodel",
    no_weights: r"layer 'fc1': no weights for this layer in the caffemodel",
    wrong_shape: r"layer 'conv1' blob 0: weights of shape \(4, 3, 5, 5\), expected \(4, 3, 3, 3\)",
    missing_bias: r"layer 'conv1': 1 weight blobs, expected 2",
    extra_blob: r"layer 'conv1': 3 weight blobs, expected 2",
    short_blob: r"blob 0: blob declares shape \(4, 3, 3, 3\) but holds 107 values",
    ragged_blob: r"blob 1: blob data of 15 bytes is not a whole number of 4-byte floats",
    unknown_v1_type: r"layer 'norm1': unknown layer type LRN",
    unknown_v2_type: r"layer 'sum': unknown layer type Eltwise",
    missing_prototxt: r"absent.prototxt: no such prototxt",
    missing_caffemodel: r"absent.caffemodel: no such caffemodel",
    folder_as_caffemodel: r"cannot read the caffemodel \(Is a directory\)",
    no_such_until: r"no layer named 'conv9' to stop at",
    syntax_error: r"not a readable Caffe prototxt",
    no_input: r"no 4-D network input declared",
    dangling_bottom: r"layer 'relu1': bottom 'conv0' is not produced by any earlier layer",
    stochastic_pooling: r"layer 'pool1': STOCHASTIC pooling is not supported",
    stride_beyond_kernel: r"layer 'pool2': unpadded pooling with stride > kernel",
    global_pooling_any_size: r"layer 'pool2': global pooling in a net without fc layers",
}


@pytest.mark.parametrize("spoil", CASES, ids=[f.__name__ for f in CASES])
def test_bad_input_is_one_clear_line_and_writes_nothing(spoil, tmp_path):
    prototxt, caffemodel, until = spoil(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(CaffeError, match=CASES[spoil]) as error:
        convert(prototxt, caffemodel, out, until=until)
    assert isinstance(error.value, ReproduceError)
    assert "\n" not in str(error.value)
    assert not out.exists() or not any(out.iterdir())


def test_the_script_exits_2_with_one_error_line(tmp_path):
    prototxt, caffemodel, _ = unknown_v1_type(tmp_path)
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, str(SCRIPT), str(prototxt), str(caffemodel),
                          "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.startswith("error: ") and "unknown layer type LRN" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_a_missing_layer_elsewhere_is_not_called_truncated(tmp_path):
    with pytest.raises(CaffeError) as error:
        convert(*no_weights(tmp_path)[:2], tmp_path / "out")
    assert "truncated" not in str(error.value)


@pytest.mark.parametrize("where, message", [
    (lambda tmp: tmp / "file.txt", "is a file, not a folder"),
    (lambda tmp: tmp / "file.txt" / "out", "is a file, not a folder"),
    (lambda tmp: pathlib.Path("/proc/out"), "cannot write in /proc"),
])
def test_an_unwritable_output_is_one_line_before_the_work(tmp_path, monkeypatch, where, message):
    (tmp_path / "file.txt").write_text("a file")
    prototxt, caffemodel = write_model(small_net(), tmp_path)
    monkeypatch.setattr("reproduce.network.convert.read_net", None)  # the check comes first
    with pytest.raises(ReproduceError, match=message) as error:
        convert(prototxt, caffemodel, where(tmp_path))
    assert str(error.value).startswith("out_dir ") and "\n" not in str(error.value)
    assert (tmp_path / "file.txt").read_text() == "a file"
