"""Fetching model files from a local HTTP server (never the internet): download, verification,
resume, checksum mismatch, copying with --from, failing fast offline, and the real manifest."""
import hashlib
import json
import os
import pathlib
import random
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reproduce.fetch import MODELS, Entry, FetchError, fetch, read_manifest, select

SCRIPT = pathlib.Path(__file__).parents[1] / "scripts" / "fetch_models.py"
DATA = {"weights.caffemodel": random.Random(0).randbytes(300_000),
        "net.prototxt": b'name: "net"\n' * 50}


class Site:
    """What the test server serves and what it was asked for. `honour_range` False ignores
    Range headers; `cut_after` closes the connection after that many body bytes."""

    def __init__(self):
        self.port = None
        self.files = dict(DATA)
        self.requests = []   # (path, Range header or None)
        self.honour_range = True
        self.cut_after = None

    def url(self, name):
        return f"http://127.0.0.1:{self.port}/{name}"


def handler(site):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            name, wanted = self.path.lstrip("/"), self.headers.get("Range")
            site.requests.append((name, wanted))
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
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:][:site.cut_after])

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
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def entry(site, name, **wrong):
    """The manifest entry for a served file, with every value known unless `wrong` overrides."""
    data = DATA[name]
    known = dict(size=len(data), md5=hashlib.md5(data).hexdigest(),
                 sha256=hashlib.sha256(data).hexdigest())
    return Entry(name, site.url(name), **dict(known, **wrong))


def write_manifest(path, entries):
    path.write_text(json.dumps({"files": [vars(e) for e in entries]}))
    return path


def test_download_is_verified_and_renamed_into_place(site, tmp_path):
    for name in DATA:
        path, done, got = fetch(entry(site, name), tmp_path / "models")
        assert path.read_bytes() == DATA[name] and done.startswith("downloaded")
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
    with pytest.raises(FetchError, match="stopped after 100000 bytes.*run again to resume"):
        fetch(entry(site, "weights.caffemodel"), tmp_path)
    assert os.listdir(tmp_path) == ["weights.caffemodel.part"]
    site.cut_after = None
    path, _, _ = fetch(entry(site, "weights.caffemodel"), tmp_path)
    assert site.requests[-1] == ("weights.caffemodel", "bytes=100000-")
    assert path.read_bytes() == DATA["weights.caffemodel"]


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
    with pytest.raises(FetchError, match=f"{field} expected {value}, got {got}"):
        fetch(bad, tmp_path)
    assert os.listdir(tmp_path) == []


def test_unknown_checksums_are_computed_and_reported(site, tmp_path):
    manifest = write_manifest(tmp_path / "manifest.json", [
        entry(site, "weights.caffemodel", size=None, md5=None, sha256=None)])
    run = subprocess.run([sys.executable, str(SCRIPT), "--manifest", str(manifest), "--dest",
                          str(tmp_path / "models")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert f"sha256 {hashlib.sha256(DATA['weights.caffemodel']).hexdigest()}" in run.stdout
    assert (tmp_path / "models" / "weights.caffemodel").read_bytes() == DATA["weights.caffemodel"]


def test_from_copies_and_verifies_without_the_network(site, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "net.prototxt").write_bytes(DATA["net.prototxt"])
    path, done, _ = fetch(entry(site, "net.prototxt"), tmp_path / "models", source=mine)
    assert path.read_bytes() == DATA["net.prototxt"] and done == f"copied from {mine}"
    (mine / "weights.caffemodel").write_bytes(b"not the weights")
    with pytest.raises(FetchError, match="md5 expected .*nothing was copied"):
        fetch(entry(site, "weights.caffemodel"), tmp_path / "models", source=mine)
    with pytest.raises(FetchError, match="no such file to copy"):
        fetch(Entry("other.bin", site.url("other.bin")), tmp_path / "models", source=mine)
    assert os.listdir(tmp_path / "models") == ["net.prototxt"] and site.requests == []


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_fails_at_once_saying_what_to_get_from_where(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/weights.caffemodel"
    start = time.monotonic()
    with pytest.raises(FetchError) as error:
        fetch(Entry("weights.caffemodel", url), tmp_path, timeout=5)
    assert time.monotonic() - start < 2
    message = str(error.value)
    for part in (url, str(tmp_path / "weights.caffemodel"), "--from DIR", "refused"):
        assert part in message
    assert "\n" not in message and os.listdir(tmp_path) == []


def test_http_errors_are_reported(site, tmp_path):
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(Entry("missing.bin", site.url("missing.bin")), tmp_path)


def test_the_script_exits_2_with_one_error_line(site, tmp_path):
    manifest = write_manifest(tmp_path / "manifest.json", [entry(site, "net.prototxt")])
    common = [sys.executable, str(SCRIPT), "--manifest", str(manifest), "--dest", str(tmp_path)]
    run = subprocess.run(common + ["--only", "nothing.bin"], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2
    assert run.stderr == "error: not in the manifest: nothing.bin (it lists net.prototxt)\n"
    site.files["net.prototxt"] = b"changed upstream"
    run = subprocess.run(common, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stderr.startswith("error: ")
    assert len(run.stderr.splitlines()) == 1 and os.listdir(tmp_path) == ["manifest.json"]


def test_the_manifest_lists_the_three_files_and_pins_the_committed_prototxt():
    entries = read_manifest()
    assert [e.name for e in entries] == ["VGG_ILSVRC_19_layers_deploy.prototxt",
                                         "VGG_ILSVRC_19_layers.caffemodel",
                                         "vgg_normalised.caffemodel"]
    prototxt, caffemodel, normalised = entries
    assert (prototxt.size, prototxt.md5) == (5520, "8b2308c06ccf31ca8cbe60b6df88332e")
    assert (caffemodel.size, caffemodel.md5) == (574_671_192, "b5c644beabd7cf06bdd9065cfd674c97")
    assert (normalised.size, normalised.md5, normalised.sha256) == (None, None, None)
    path, done, _ = fetch(prototxt, MODELS)  # present: verified, nothing downloaded
    assert done == "present" and path == MODELS / prototxt.name
    assert select(entries, ["vgg_normalised.caffemodel"]) == [normalised]


@pytest.mark.parametrize("text, message", [(None, "no such manifest"),
                                           ("{", "not a model manifest"),
                                           ('{"files": [{"url": "x"}]}', "not a model manifest")])
def test_a_bad_manifest_is_reported(tmp_path, text, message):
    path = tmp_path / "manifest.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(FetchError, match=message):
        read_manifest(path)
