"""Conversion and normalisation reach nothing they must not (the safety issue, items 3, 7, 17):
a normalised network through a linked --out never replaces the network it is made from; a full
disk is one line (exit 3) in a real process; two conversions into one folder keep each other's
temporaries."""
import os
import resource
import shutil
import signal
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from reproduce.errors import ReproduceError, run_main
from reproduce.files import atomic_path, file_digest, remove_stale_temporaries
from reproduce.network import record_path
from reproduce.network.normalise import normalise
from tests.helpers import ROOT, VGG_DIV8, load_script


def test_normalising_through_a_linked_out_never_replaces_its_source(small_vgg, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    for path in (small_vgg, record_path(small_vgg)):
        shutil.copy(path, models)
    source = models / os.path.basename(small_vgg)
    before = {p: file_digest(p) for p in (source, record_path(source))}
    images = tmp_path / "images"
    images.mkdir()
    iio.imwrite(images / "a.png", np.full((16, 16, 3), 120, np.uint8))
    (tmp_path / "link").symlink_to(models)
    with pytest.raises(ReproduceError, match=r"out .*link/vgg19_div8.onnx would overwrite the "
                                             r"input model \(through a link"):
        normalise(source, images, tmp_path / "link" / source.name, size=16)
    assert {p: file_digest(p) for p in before} == before


def limit_file_size():
    """In the child: files may grow to 64 KiB; a larger write fails with EFBIG (a full disk's
    kind of failure), instead of the signal that would end the process."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))


def test_a_conversion_that_cannot_be_written_is_one_line_exit_3(tmp_path):
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "convert_caffe.py"),
         str(VGG_DIV8 / "deploy_max.prototxt"), str(VGG_DIV8 / "vgg19_v1.caffemodel"),
         "--out", str(out), "--until", "pool5"], capture_output=True, text=True,
        preexec_fn=limit_file_size, env=dict(os.environ, PYTHONPATH=str(ROOT),
                                              PYTHONDONTWRITEBYTECODE="1"))
    assert run.returncode == 3, run.stderr
    assert run.stderr.count("\n") == 1 and "vgg19_v1.onnx: cannot write (the file is too large)" \
        in run.stderr
    assert os.listdir(out) == []  # no .onnx, no record, no temporary


def test_two_conversions_into_one_folder_keep_each_others_temporaries(tmp_path):
    """A temporary of a writer that is still running is not stale: only a dead writer's go."""
    path = tmp_path / "net.onnx"
    with atomic_path(path) as mine:
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            theirs = tmp_path / f".net.onnx.{other.pid}.abcdefgh.onnx"
            theirs.write_bytes(b"half")
            remove_stale_temporaries(path)  # what a second conversion does when it starts
            assert os.path.exists(mine) and theirs.exists()
        finally:
            other.kill()
            other.wait()
        remove_stale_temporaries(path)
        assert not theirs.exists() and os.path.exists(mine)  # ours: this process still runs
        open(mine, "wb").close()
    assert path.exists()


def test_a_figure_that_cannot_be_written_is_one_line(tmp_path, small_vgg, monkeypatch, capsys):
    from reproduce.figures import layout
    real = layout.Figure.savefig

    def full(self, path, **kwargs):
        if str(path).endswith(".pdf"):
            raise OSError(28, "No space left on device")
        return real(self, path, **kwargs)

    monkeypatch.setattr(layout.Figure, "savefig", full)
    code = run_main(load_script("make_figures").main,
                    ["fig2", "--model", str(small_vgg), "--out", str(tmp_path), "--quick",
                     "--size", "24", "--iterations", "1"])
    err = capsys.readouterr().err
    assert code == 3 and err.count("\n") == 1
    assert "fig2.pdf: cannot write (no space left on the device)" in err
    assert not (tmp_path / "arxiv" / "fig2.json").exists()  # no manifest vouches for it
