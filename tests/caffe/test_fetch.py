"""Fetching model files from a local HTTP server (never the internet): download, verification,
resume, checksum mismatch, copying with --from, failing fast offline, and the real manifest.
The server can cut, stall and serve an HTML page instead of the file."""
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reproduce.caffe.fetch import MODELS, Entry, FetchError, fetch, read_manifest, select
from reproduce.errors import run_main
from tests.helpers import ROOT, VGG_DIV8, load_script

SCRIPT = ROOT / "scripts" / "fetch_models.py"
FETCH_MODELS = load_script("fetch_models")
CONVS = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4",
         "conv4_1", "conv4_2", "conv4_3", "conv4_4", "conv5_1", "conv5_2", "conv5_3", "conv5_4"]
DATA = {"weights.caffemodel": random.Random(0).randbytes(300_000),
        "net.prototxt": b'name: "net"\n' * 50,
        # a real caffemodel (VGG-19's layers, 1/8 of the channels), to be checked by its layers
        "normalised.caffemodel": (VGG_DIV8 / "vgg19_v1.caffemodel").read_bytes()}
HTML = b"<!DOCTYPE html><html><body><h1>503 Service Unavailable</h1></body></html>\n"


class Site:
    """What the test server serves and what it was asked for. `honour_range` False ignores
    Range headers; `cut_after` closes the connection after that many body bytes; `stall_after`
    sends that many bytes and then waits until the test ends; `length` False sends no
    Content-Length; `html` answers every request with a web page (status 200)."""

    def __init__(self):
        self.port = None
        self.files = dict(DATA)
        self.requests = []   # (path, Range header or None)
        self.honour_range = True
        self.cut_after = None
        self.stall_after = None
        self.length = True
        self.html = False
        self.done = threading.Event()

    def url(self, name):
        return f"http://127.0.0.1:{self.port}/{name}"


def handler(site):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            name, wanted = self.path.lstrip("/"), self.headers.get("Range")
            site.requests.append((name, wanted))
            if site.html:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(HTML)))
                self.end_headers()
                self.wfile.write(HTML)
                return
            if name not in site.files:
                self.send_error(404)
                return
            data, start = site.files[name], 0
            if wanted and site.honour_range:
                start = int(wanted.removeprefix("bytes=").rstrip("-"))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if site.length:
                self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            if site.stall_after is not None:
                self.wfile.write(data[start:][:site.stall_after])
                self.wfile.flush()
                site.done.wait(30)
                return
            self.wfile.write(data[start:][:site.cut_after])
            self.close_connection = True

        def log_message(self, *args):
            pass
    return Handler


@pytest.fixture
def site():
    served = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(served))
    served.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs=dict(poll_interval=0.05),
                              daemon=True)
    thread.start()
    yield served
    served.done.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def entry(site, name, **wrong):
    """The manifest entry for a served file, with every value known unless `wrong` overrides."""
    data = DATA[name]
    known = dict(size=len(data), md5=hashlib.md5(data).hexdigest(),
                 sha256=hashlib.sha256(data).hexdigest())
    return Entry(name, [site.url(name)], **dict(known, **wrong))


def normalised(site, *urls):
    """An entry like the manifest's vgg_normalised.caffemodel: no size, no checksum, layers."""
    return Entry("normalised.caffemodel", urls or [site.url("normalised.caffemodel")],
                 layers=CONVS)


def write_manifest(path, entries):
    path.write_text(json.dumps({"files": [vars(e) for e in entries]}))
    return path


def run_script(manifest, dest, *options, capsys=None):
    """scripts/fetch_models.py with these options: in this process through run_main (as the
    script runs) when given `capsys`, else as a real subprocess. Returns its exit code and output."""
    argv = ["--manifest", str(manifest), "--dest", str(dest), *options]
    if capsys is None:
        return subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True,
                              text=True, timeout=60)
    capsys.readouterr()
    code = run_main(FETCH_MODELS.main, argv)
    out = capsys.readouterr()
    return types.SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)


def one_error_line(run):
    """The exit code is 2 (bad input) and stderr is one line; returns that line."""
    assert run.returncode == 2, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    return lines[0]


def test_download_is_verified_and_renamed_into_place(site, tmp_path):
    for name in DATA:
        path, done, got = fetch(entry(site, name), tmp_path / "models")
        assert path.read_bytes() == DATA[name] and done == f"downloaded from {site.url(name)}"
        assert got["sha256"] == hashlib.sha256(DATA[name]).hexdigest()
    assert sorted(os.listdir(tmp_path / "models")) == sorted(DATA)


def test_a_file_in_place_is_verified_not_fetched_again(site, tmp_path):
    (tmp_path / "net.prototxt").write_bytes(DATA["net.prototxt"])
    path, done, _ = fetch(entry(site, "net.prototxt"), tmp_path)
    assert done == "present" and site.requests == []
    path.write_bytes(b"something else")
    with pytest.raises(FetchError, match="not the manifest's net.prototxt.*move it away"):
        fetch(entry(site, "net.prototxt"), tmp_path)
    assert path.read_bytes() == b"something else" and site.requests == []


def test_a_partial_file_is_resumed_with_a_range_request(site, tmp_path):
    data = DATA["weights.caffemodel"]
    (tmp_path / "weights.caffemodel.part").write_bytes(data[:123_456])
    path, _, _ = fetch(entry(site, "weights.caffemodel"), tmp_path)
    assert site.requests == [("weights.caffemodel", "bytes=123456-")]
    assert path.read_bytes() == data and not (tmp_path / "weights.caffemodel.part").exists()


def test_an_interrupted_download_resumes_on_the_next_run(site, tmp_path):
    site.cut_after = 100_000
    with pytest.raises(FetchError, match="closed after 100000 of 300000 bytes.*100000 bytes "
                                         "kept in .*weights.caffemodel.part, a rerun resumes"):
        fetch(entry(site, "weights.caffemodel"), tmp_path)
    assert os.listdir(tmp_path) == ["weights.caffemodel.part"]
    site.cut_after = None
    path, _, _ = fetch(entry(site, "weights.caffemodel"), tmp_path)
    assert site.requests[-1] == ("weights.caffemodel", "bytes=100000-")
    assert path.read_bytes() == DATA["weights.caffemodel"]


def test_a_stalled_download_keeps_the_bytes_received_and_resumes(site, tmp_path, capsys):
    site.stall_after = 70_000
    manifest = write_manifest(tmp_path / "manifest.json", [entry(site, "weights.caffemodel")])
    dest = tmp_path / "models"
    line = one_error_line(run_script(manifest, dest, "--timeout", "0.5", capsys=capsys))
    assert "timed out" in line and "70000 bytes kept in" in line
    part = dest / "weights.caffemodel.part"
    assert os.listdir(dest) == [part.name]
    assert part.read_bytes() == DATA["weights.caffemodel"][:70_000]
    site.stall_after = None
    run = run_script(manifest, dest, capsys=capsys)
    assert run.returncode == 0, run.stderr
    assert site.requests[-1] == ("weights.caffemodel", "bytes=70000-")
    assert os.listdir(dest) == ["weights.caffemodel"]
    assert (dest / "weights.caffemodel").read_bytes() == DATA["weights.caffemodel"]


def test_sigterm_keeps_the_bytes_received_and_exits_143(site, tmp_path):
    site.stall_after = 40_000
    manifest = write_manifest(tmp_path / "manifest.json", [entry(site, "weights.caffemodel")])
    part = tmp_path / "models" / "weights.caffemodel.part"
    process = subprocess.Popen([sys.executable, str(SCRIPT), "--manifest", str(manifest),
                                "--dest", str(tmp_path / "models"), "--timeout", "60"],
                               stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):   # until the bytes sent before the stall are on disk
            if process.poll() is not None or part.is_file() and part.stat().st_size == 40_000:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 143 and stderr == "interrupted (SIGTERM)\n"
    assert os.listdir(tmp_path / "models") == [part.name]
    assert part.read_bytes() == DATA["weights.caffemodel"][:40_000]


def test_a_server_ignoring_the_range_restarts_the_file(site, tmp_path):
    site.honour_range = False
    (tmp_path / "weights.caffemodel.part").write_bytes(b"x" * 1000)
    path, _, _ = fetch(entry(site, "weights.caffemodel"), tmp_path)
    assert path.read_bytes() == DATA["weights.caffemodel"]


def test_a_whole_partial_file_of_unknown_size_is_taken_as_complete(site, tmp_path):
    """The server answers 416 to a range at the end; the file is then checked as it is."""
    (tmp_path / "net.prototxt.part").write_bytes(DATA["net.prototxt"])
    fetch(entry(site, "net.prototxt", size=None), tmp_path)
    assert site.requests == [("net.prototxt", f"bytes={len(DATA['net.prototxt'])}-")]
    assert (tmp_path / "net.prototxt").read_bytes() == DATA["net.prototxt"]


@pytest.mark.parametrize("field, value", [("md5", "0" * 32), ("sha256", "f" * 64), ("size", 7)])
def test_a_mismatch_deletes_the_download_and_names_both_values(site, tmp_path, field, value):
    bad = entry(site, "net.prototxt", **{field: value})
    got = getattr(entry(site, "net.prototxt"), field)
    with pytest.raises(FetchError, match=f"{field} expected {value}, got {got}") as error:
        fetch(bad, tmp_path)
    assert str(error.value).startswith(  # the address, not the deleted .part
        f"cannot download net.prototxt ({site.url('net.prototxt')}: not the manifest's "
        f"net.prototxt ({field} expected")
    assert ".part" not in str(error.value)
    assert os.listdir(tmp_path) == []


def test_a_caffemodel_without_checksums_is_accepted_by_its_layers(site, tmp_path, capsys):
    manifest = write_manifest(tmp_path / "manifest.json", [normalised(site)])
    run = run_script(manifest, tmp_path / "models", capsys=capsys)
    assert run.returncode == 0, run.stderr
    data = DATA["normalised.caffemodel"]
    assert f"sha256 {hashlib.sha256(data).hexdigest()}" in run.stdout
    assert (tmp_path / "models" / "normalised.caffemodel").read_bytes() == data


@pytest.mark.parametrize("case, message", [
    ("cut without Content-Length", "not the manifest's normalised.caffemodel"),
    ("cut at a layer boundary", "without weights for conv5_1, conv5_2, conv5_3, conv5_4"),
    ("HTML page", "the server sent a web page"),
    ("HTML as octet-stream", "not the manifest's normalised.caffemodel"),
])
def test_a_broken_download_without_checksums_is_refused(site, tmp_path, case, message, capsys):
    data = DATA["normalised.caffemodel"]
    if case == "cut without Content-Length":
        site.length, site.cut_after = False, 1_000_000
    elif case == "cut at a layer boundary":
        site.files["normalised.caffemodel"] = _boundary_cut(data)
    elif case == "HTML page":
        site.html = True
    else:
        site.files["normalised.caffemodel"] = HTML
    manifest = write_manifest(tmp_path / "manifest.json", [normalised(site)])
    dest = tmp_path / "models"
    line = one_error_line(run_script(manifest, dest, capsys=capsys))
    assert message in line
    assert os.listdir(dest) == []   # nothing under the final name, no .part to resume from
    site.html, site.length, site.cut_after = False, True, None
    site.files["normalised.caffemodel"] = data
    run = run_script(manifest, dest, capsys=capsys)   # a later run fetches it, never says "present"
    assert run.returncode == 0 and "downloaded from" in run.stdout, run.stderr


def _boundary_cut(data):
    """The caffemodel cut between two whole layer records, before conv5_1: it parses as a
    complete NetParameter that lacks the last layers."""
    from reproduce.caffe.schema import NetParameter
    net = NetParameter()
    net.ParseFromString(data)
    field = "layers" if len(net.layers) else "layer"
    layers = list(getattr(net, field))
    keep = layers[:[layer.name for layer in layers].index("conv5_1")]
    del getattr(net, field)[:]
    getattr(net, field).extend(keep)
    return net.SerializeToString()


def test_mirrors_are_tried_in_order(site, tmp_path):
    good = site.url("net.prototxt")
    first = Entry("net.prototxt", [site.url("gone/net.prototxt"), good],
                  md5=hashlib.md5(DATA["net.prototxt"]).hexdigest())
    path, done, _ = fetch(first, tmp_path)
    assert done == f"downloaded from {good}" and path.read_bytes() == DATA["net.prototxt"]
    assert [name for name, _ in site.requests] == ["gone/net.prototxt", "net.prototxt"]
    site.files["wrong/net.prototxt"] = HTML   # a mirror serving another file: deleted, next
    second = Entry("net.prototxt", [site.url("wrong/net.prototxt"), good],
                   md5=hashlib.md5(DATA["net.prototxt"]).hexdigest())
    path, done, _ = fetch(second, tmp_path / "second")
    assert done == f"downloaded from {good}" and path.read_bytes() == DATA["net.prototxt"]
    assert os.listdir(tmp_path / "second") == ["net.prototxt"]
    with pytest.raises(FetchError, match="gone/net.prototxt: HTTP 404.*other.prototxt: HTTP 404"):
        fetch(Entry("x.prototxt", [site.url("gone/net.prototxt"), site.url("other.prototxt")],
                    md5="0" * 32), tmp_path / "other")


def test_an_empty_or_wrong_from_file_is_refused(tmp_path, capsys):
    mine, dest = tmp_path / "mine", tmp_path / "models"
    mine.mkdir()
    (mine / "normalised.caffemodel").write_bytes(b"")
    manifest = write_manifest(tmp_path / "manifest.json",
                              [normalised(None, "http://127.0.0.1:9/normalised.caffemodel")])
    line = one_error_line(run_script(manifest, dest, "--from", str(mine), capsys=capsys))
    assert line == (f"error: {mine / 'normalised.caffemodel'}: not the manifest's "
                    "normalised.caffemodel (an empty file); nothing was copied")
    assert os.listdir(dest) == []   # no temporary left, nothing named
    (mine / "normalised.caffemodel").write_bytes(HTML)
    run = run_script(manifest, dest, "--from", str(mine), capsys=capsys)
    assert "nothing was copied" in one_error_line(run)
    assert os.listdir(dest) == []


@pytest.mark.parametrize("where, message", [("under a file", "is a file, not a folder"),
                                            ("in /proc", "cannot write in /proc")])
def test_an_unwritable_dest_names_the_real_cause(site, tmp_path, where, message, capsys):
    (tmp_path / "file.txt").write_text("x")
    dest = tmp_path / "file.txt" / "models" if where == "under a file" else "/proc/models"
    manifest = write_manifest(tmp_path / "manifest.json", [entry(site, "net.prototxt")])
    line = one_error_line(run_script(manifest, dest, capsys=capsys))
    assert message in line and "--dest" in line and ".part" not in line
    assert site.requests == []   # checked before any download


def test_from_copies_and_verifies_without_the_network(site, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "net.prototxt").write_bytes(DATA["net.prototxt"])
    path, done, _ = fetch(entry(site, "net.prototxt"), tmp_path / "models", source=mine)
    assert path.read_bytes() == DATA["net.prototxt"] and done == f"copied from {mine}"
    (mine / "weights.caffemodel").write_bytes(b"not the weights")
    with pytest.raises(FetchError, match="md5 expected .*nothing was copied") as error:
        fetch(entry(site, "weights.caffemodel"), tmp_path / "models", source=mine)
    assert str(error.value).startswith(f"{mine / 'weights.caffemodel'}: ")
    with pytest.raises(FetchError, match="no such file to copy"):
        fetch(Entry("other.bin", [site.url("other.bin")], md5="0" * 32), tmp_path / "models",
              source=mine)
    assert os.listdir(tmp_path / "models") == ["net.prototxt"] and site.requests == []


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_fails_at_once_saying_what_to_get_from_where(tmp_path, monkeypatch):
    """One connection attempt per address, with the timeout asked for; no retry, no sleep."""
    urls = [f"http://127.0.0.1:{closed_port()}/weights.caffemodel",
            f"http://127.0.0.1:{closed_port()}/mirror/weights.caffemodel"]
    attempts, connect = [], socket.create_connection

    def counted(address, timeout=None, *args, **kwargs):
        attempts.append((address, timeout))
        return connect(address, timeout, *args, **kwargs)

    def no_sleep(seconds):
        raise AssertionError(f"slept {seconds} s")
    monkeypatch.setattr(socket, "create_connection", counted)
    monkeypatch.setattr("time.sleep", no_sleep)
    with pytest.raises(FetchError) as error:
        fetch(Entry("weights.caffemodel", urls, md5="0" * 32), tmp_path, timeout=5)
    assert [timeout for _, timeout in attempts] == [5, 5]
    assert [port for (_, port), _ in attempts] == [int(u.split(":")[2].split("/")[0])
                                                   for u in urls]
    message = str(error.value)
    for part in (*urls, str(tmp_path / "weights.caffemodel"), "--from DIR", "refused"):
        assert part in message
    assert "\n" not in message and os.listdir(tmp_path) == []


def test_http_errors_are_reported(site, tmp_path):
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(Entry("missing.bin", [site.url("missing.bin")], md5="0" * 32), tmp_path)


def test_the_script_exits_2_with_one_error_line(site, tmp_path, capsys):
    manifest = write_manifest(tmp_path / "manifest.json", [entry(site, "net.prototxt")])
    run = run_script(manifest, tmp_path, "--only", "nothing.bin")   # a real process
    assert one_error_line(run) == "error: not in the manifest: nothing.bin (it lists net.prototxt)"
    site.files["net.prototxt"] = b"changed upstream"
    one_error_line(run_script(manifest, tmp_path, capsys=capsys))
    assert os.listdir(tmp_path) == ["manifest.json"]
    for bad in ("0", "nan", "-1"):
        run = run_script(manifest, tmp_path, "--timeout", bad, capsys=capsys)
        assert "--timeout" in one_error_line(run)


def test_the_manifest_lists_the_three_files_and_pins_the_committed_prototxt():
    entries = read_manifest()
    assert [e.name for e in entries] == ["VGG_ILSVRC_19_layers_deploy.prototxt",
                                         "VGG_ILSVRC_19_layers.caffemodel",
                                         "vgg_normalised.caffemodel"]
    prototxt, caffemodel, normalised_vgg = entries
    assert (prototxt.size, prototxt.md5) == (5520, "8b2308c06ccf31ca8cbe60b6df88332e")
    assert (caffemodel.size, caffemodel.md5) == (574_671_192, "b5c644beabd7cf06bdd9065cfd674c97")
    assert caffemodel.layers == (*CONVS, "fc6", "fc7", "fc8")
    assert (normalised_vgg.size, normalised_vgg.md5, normalised_vgg.sha256) == (None, None, None)
    assert normalised_vgg.layers == tuple(CONVS)
    for e in entries:   # https first; every http address also has its https one before it
        assert e.urls[0].startswith("https://")
        https = [u for u in e.urls if u.startswith("https://")]
        assert all(u.replace("http://", "https://", 1) in https
                   for u in e.urls if u.startswith("http://"))
    path, done, _ = fetch(prototxt, MODELS)  # present: verified, nothing downloaded
    assert done == "present" and path == MODELS / prototxt.name
    assert select(entries, ["vgg_normalised.caffemodel"]) == [normalised_vgg]


@pytest.mark.parametrize("text, message", [
    (None, "no such manifest"),
    ("{", "not a model manifest"),
    ('{"files": [{"url": "x"}]}', "not a model manifest"),
    ('{"files": [{"name": "a.bin", "urls": ["http://x/a.bin"], "size": 3}]}',
     "manifest entry a.bin: nothing to verify it by"),
    ('{"files": [{"name": "a.bin", "urls": [], "md5": "0"}]}', "a.bin: no address"),
])
def test_a_bad_manifest_is_reported(tmp_path, text, message):
    path = tmp_path / "manifest.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(FetchError, match=message):
        read_manifest(path)


def test_a_folder_in_the_way_is_one_line(site, tmp_path):
    (tmp_path / "net.prototxt").mkdir()
    with pytest.raises(FetchError, match="net.prototxt: in the way, and not a file"):
        fetch(entry(site, "net.prototxt"), tmp_path)
    assert site.requests == []
