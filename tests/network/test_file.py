"""The network file: data only (a pickle is refused unread), the .onnx and its record one set,
no partial files after an interrupt, stale temporaries removed."""
import json
import os
import pathlib
import pickle
import signal
import subprocess
import sys

import onnx
import pytest
import torch

from reproduce.errors import Interrupted, ParameterError, run_main
from reproduce.files import file_digest
from reproduce.network import NetworkError, load_network, runtime
from reproduce.network import file as network_file
from reproduce.network.convert import convert
from tests.helpers import ROOT, VGG_DIV8, load_script

PROTOTXT, CAFFEMODEL = VGG_DIV8 / "deploy_max.prototxt", VGG_DIV8 / "vgg19_v1.caffemodel"


class WritesMarker:
    """Unpickling this runs os.system, which creates the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("container", ["torch.save", "pickle"])
def test_a_pickled_network_file_is_refused_without_running_it(tmp_path, container):
    marker, path = tmp_path / "ran", tmp_path / "vgg19.pt"
    payload = dict(format="reproduce.network/1", module=WritesMarker(marker))
    if container == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    with pytest.raises(NetworkError) as error:
        load_network(path)
    message = str(error.value)
    assert "pickled network file" in message and "scripts/convert_caffe.py" in message
    assert "\n" not in message
    assert not marker.exists()
    if container == "pickle":  # the file does run code when unpickled
        pickle.loads(path.read_bytes())
    else:
        torch.load(path, weights_only=False)
    assert marker.exists()


def test_no_code_in_the_package_unpickles():
    for source in (ROOT / "reproduce").glob("*.py"):
        text = source.read_text()
        for forbidden in ("weights_only=False", "torch.load(", "import pickle", "pickle.load"):
            assert forbidden not in text, (source.name, forbidden)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return convert(PROTOTXT, CAFFEMODEL, tmp_path_factory.mktemp("net"), until="pool5")


def test_the_onnx_file_names_its_outputs_after_the_caffe_blobs(converted):
    model = onnx.load(converted["onnx"])
    props = {p.key: json.loads(p.value) for p in model.metadata_props}
    outputs = [o.name for o in model.graph.output]
    assert outputs == props["reproduce.blobs"] == load_network(converted["onnx"]).blob_names
    assert outputs[:3] == ["conv1_1", "conv1_2", "pool1"]
    assert props["reproduce.input"] == model.graph.input[0].name == "data"
    assert props["reproduce.format"] == network_file.FORMAT
    # conv1_1 is the ReLU's output (Caffe's in-place blob), the conv's own output renamed
    relu = next(n for n in model.graph.node if n.name == "relu1_1")
    assert list(relu.input) == ["conv1_1/conv1_1"] and list(relu.output) == ["conv1_1"]
    record = json.loads(pathlib.Path(converted["json"]).read_text())
    assert record["artifacts"] == {"vgg19_v1.onnx": file_digest(converted["onnx"])}
    assert record["artifact_bytes"] == {"vgg19_v1.onnx": os.path.getsize(converted["onnx"])}
    assert props["reproduce.record"] == {k: v for k, v in record.items()
                                         if k not in ("artifacts", "artifact_bytes")}


def copy_set(paths, folder):
    folder.mkdir()
    for path in paths.values():
        (folder / pathlib.Path(path).name).write_bytes(pathlib.Path(path).read_bytes())
    return folder / pathlib.Path(paths["onnx"]).name


@pytest.mark.parametrize("damage, message", [
    (lambda path: path.with_suffix(".json").unlink(), "record vgg19_v1.json is missing"),
    (lambda path: path.with_suffix(".json").write_text("{"), "not a readable network record"),
    (lambda path: path.write_bytes(path.read_bytes() + b"\x08\x07"),
     "1,264,032 bytes, not the 1,264,030 its record vgg19_v1.json names"),
    (lambda path: path.write_bytes(path.read_bytes()[:-2] + b"\x08\x07"),  # same size, other bytes
     "sha256 is not the one its record vgg19_v1.json names"),
])
def test_a_network_file_must_match_its_record(converted, tmp_path, damage, message):
    path = copy_set(converted, tmp_path / "copy")
    damage(path)
    with pytest.raises(NetworkError, match=message) as error:
        load_network(path)
    assert "\n" not in str(error.value) and "convert_caffe.py" in str(error.value)


def test_files_of_two_runs_are_not_mixed(converted, tmp_path):
    """The .onnx of a whole-graph conversion beside the record of a pool5 one."""
    path = copy_set(converted, tmp_path / "copy")
    other = convert(PROTOTXT, CAFFEMODEL, tmp_path / "whole")
    path.write_bytes(pathlib.Path(other["onnx"]).read_bytes())
    with pytest.raises(NetworkError, match="its record vgg19_v1.json names"):
        load_network(path)


def test_stale_temporaries_are_removed(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / ".vgg19_v1.onnx.k2x9_abc.onnx", out / ".vgg19_v1.json.qqqqqqqq.json"]
    kept = [out / ".vgg19_v1.onnx.notmine", out / "notes.txt"]
    for path in stale + kept:
        path.write_bytes(b"")
    convert(PROTOTXT, CAFFEMODEL, out, until="pool5")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [p.name for p in kept] + ["vgg19_v1.onnx", "vgg19_v1.json"])


def raise_on_call(number):
    """A stand-in that raises Interrupted(SIGINT) on its `number`-th call."""
    calls = []

    def wrap(original):
        def stand_in(*args, **kwargs):
            calls.append(1)
            if len(calls) == number:
                raise Interrupted()
            return original(*args, **kwargs)
        return stand_in
    return wrap


def test_ctrl_c_while_writing_leaves_nothing(tmp_path, monkeypatch):
    """Interrupted in the middle of the .onnx's initializers: exit 130, no file at all."""
    monkeypatch.setattr(network_file, "_initializer_chunks",
                        raise_on_call(5)(network_file._initializer_chunks))
    out = tmp_path / "out"
    argv = [str(PROTOTXT), str(CAFFEMODEL), "--out", str(out), "--until", "pool5"]
    assert run_main(load_script("convert_caffe").main, argv) == 130
    assert list(out.iterdir()) == []


def test_a_run_killed_between_the_two_files_is_refused(converted, tmp_path, monkeypatch):
    """The new .onnx in place, the old record beside it: loading says so."""
    path = copy_set(converted, tmp_path / "copy")
    monkeypatch.setattr(network_file, "write_json", raise_on_call(1)(network_file.write_json))
    with pytest.raises(Interrupted):
        convert(PROTOTXT, CAFFEMODEL, path.parent)  # the whole graph this time
    assert sorted(p.name for p in path.parent.iterdir()) == ["vgg19_v1.json", "vgg19_v1.onnx"]
    with pytest.raises(NetworkError, match="its record vgg19_v1.json names"):
        load_network(path)


def test_loading_changes_no_process_wide_setting(converted, monkeypatch):
    """Allocator and TF32 settings are configure_runtime's, which the command lines call."""
    calls = []
    monkeypatch.setattr(runtime, "keep_freed_memory", lambda: calls.append("allocator"))
    monkeypatch.setattr(runtime, "set_tf32", lambda enabled: calls.append(("tf32", enabled)))
    load_network(converted["onnx"], pooling="avg")
    assert calls == []
    runtime.configure_runtime("cpu")
    assert calls == ["allocator"]
    with pytest.raises(ParameterError, match="unknown device 'tpu'"):
        runtime.configure_runtime("tpu")


CHILD = """
import sys, time
from reproduce.network import file as network_file
from reproduce.errors import run_main
from tests.helpers import load_script
chunks = network_file._initializer_chunks
def slow(*args):
    print("writing", flush=True)  # the .onnx's temporary exists now
    time.sleep(60)
    return chunks(*args)
network_file._initializer_chunks = slow
sys.exit(run_main(load_script("convert_caffe").main, sys.argv[1:]))
"""


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_writing_leaves_nothing(tmp_path, signum, code):
    """A real signal to a real process in the middle of writing the .onnx."""
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(PROTOTXT), str(CAFFEMODEL),
                              "--out", str(out), "--until", "pool5"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "writing\n"
        assert any(out.iterdir())  # the temporary
        child.send_signal(signum)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == code
    assert err.strip() == f"interrupted ({signal.Signals(signum).name})"
    assert list(out.iterdir()) == []
