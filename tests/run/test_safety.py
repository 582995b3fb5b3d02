"""A transfer reaches nothing it must not (the safety issue, items 3–5, 7–9, 12, 16): outputs
through links never overwrite an input or the network's record, files get the umask's mode, a
write error after the checks is one line that keeps the result, a killed run's temporaries go,
and the last bad inputs are one line."""
import errno
import json
import os
import shutil
import stat
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from reproduce import __main__ as cli
from reproduce.errors import EXIT_WRITE_FAILED, ReproduceError, WriteError, run_main
from reproduce.network import record_path
from reproduce.run import transfer
from reproduce.run.config import TransferConfig
from reproduce.run.transfer import run_transfer


def config(small_vgg, tmp_path, pictures, **overrides):
    base = dict(content=str(pictures["photo"]), styles=(str(pictures["painting"]),),
                model=str(small_vgg), output=str(tmp_path / "out.png"), size=24, iterations=2,
                device="cpu")
    return TransferConfig(**{**base, **overrides})


def snapshot(*paths):
    return {str(p): open(p, "rb").read() for p in paths}


# --- item 3: an output through a linked folder never overwrites an input -----------------------

def test_an_output_through_a_linked_folder_that_is_the_content_is_refused(small_vgg, tmp_path,
                                                                          pictures):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    content = inputs / "content.png"
    shutil.copy(pictures["photo"], content)
    (tmp_path / "link").symlink_to(inputs)
    before = snapshot(content)
    cfg = config(small_vgg, tmp_path, pictures, content=str(content),
                 output=str(tmp_path / "link" / "content.png"))
    with pytest.raises(ReproduceError, match=r"--output .*link/content.png would overwrite the "
                                             r"input --content \(through a link: "):
        run_transfer(cfg, progress=False)
    assert snapshot(content) == before


# --- item 4: the log never overwrites the network's record -------------------------------------

def test_the_log_may_not_be_the_networks_record(small_vgg, tmp_path, pictures):
    before = snapshot(small_vgg, record_path(small_vgg))
    cfg = config(small_vgg, tmp_path, pictures, log=record_path(small_vgg))
    with pytest.raises(ReproduceError, match=r"--log .*vgg19_div8.json would overwrite the input "
                                             r"--model's record"):
        run_transfer(cfg, progress=False)
    assert snapshot(small_vgg, record_path(small_vgg)) == before


# --- item 5: the umask decides the mode ---------------------------------------------------------

@pytest.mark.parametrize("umask, mode", [(0o077, 0o600), (0o002, 0o664), (0o022, 0o644)])
def test_outputs_get_the_mode_the_umask_gives(small_vgg, tmp_path, pictures, umask, mode):
    old = os.umask(umask)
    try:
        run_transfer(config(small_vgg, tmp_path, pictures, log=str(tmp_path / "log.json")),
                     progress=False)
    finally:
        os.umask(old)
    for name in ("out.png", "log.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


# --- item 7: a write error after the checks is one line, and the result is kept -----------------

def failing_in(folder, code=errno.ENOSPC):
    """write_image and dump_json failing for files in `folder` as a full disk fails them."""
    real_image, real_json = transfer.write_image, transfer.dump_json

    def check(path):
        if os.path.dirname(os.path.abspath(path)) == str(folder):
            raise OSError(code, os.strerror(code))

    return (lambda path, rgb: (check(path), real_image(path, rgb))[1],
            lambda path, obj: (check(path), real_json(path, obj))[1])


@pytest.mark.parametrize("log", [False, True])
def test_a_full_disk_is_one_line_and_the_result_is_rescued(small_vgg, tmp_path, pictures,
                                                          monkeypatch, capsys, log):
    out = tmp_path / "out"
    out.mkdir()
    image, dump = failing_in(out)
    monkeypatch.setattr(transfer, "write_image", image)
    monkeypatch.setattr(transfer, "dump_json", dump)
    argv = ["transfer", "--content", str(pictures["photo"]), "--style", str(pictures["painting"]),
            "--model", str(small_vgg), "--size", "24", "--iterations", "2", "--device", "cpu",
            "--output", str(out / "result.png")] + (["--log", str(out / "result.json")] if log else [])
    assert run_main(cli.main, argv) == EXIT_WRITE_FAILED == 3
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "result.png: cannot write (no space left on the device)" in err[0]
    rescued = err[0].split("the result was saved in ")[1].split(" instead")[0]
    assert sorted(os.listdir(rescued)) == (["result.json", "result.png"] if log else ["result.png"])
    assert iio.imread(os.path.join(rescued, "result.png")).shape == (16, 24, 3)
    if log:
        assert json.load(open(os.path.join(rescued, "result.json")))["iterations"] == 2
    assert os.listdir(out) == []  # neither file, and no temporary
    shutil.rmtree(rescued)


def test_a_log_that_cannot_be_written_keeps_the_image_back_too(small_vgg, tmp_path, pictures,
                                                              monkeypatch):
    """The image and its log are one set: a log that fails leaves no image without its log."""
    real = transfer.dump_json

    def full(path, obj):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(transfer, "dump_json", full)
    cfg = config(small_vgg, tmp_path, pictures, log=str(tmp_path / "log.json"))
    with pytest.raises(WriteError, match=r"log.json: cannot write \(a read-only file system\).*"
                                         r"saving it in the temporary folder failed too"):
        run_transfer(cfg, progress=False)
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "log.json").exists()
    monkeypatch.setattr(transfer, "dump_json", real)


# --- item 8: a killed run's temporaries are removed by the next ---------------------------------

def test_a_killed_runs_temporaries_are_removed_at_the_next_start(small_vgg, tmp_path, pictures):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [tmp_path / f".out.png.{dead.pid}.abcdefgh.png", tmp_path / ".out.png.zyxwvuts.png",
             tmp_path / f".log.json.{dead.pid}.abcdefgh.json"]
    running = tmp_path / f".out.png.{os.getppid()}.abcdefgh.png"  # a live writer keeps its own
    for path in [*stale, running]:
        path.write_bytes(b"")
    run_transfer(config(small_vgg, tmp_path, pictures, log=str(tmp_path / "log.json")),
                 progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["out.png", "log.json", running.name])


# --- items 9 and 12: duplicate layers, blend weights that overflow ------------------------------

@pytest.mark.parametrize("field, layers", [("style_layers", ("conv1_1", "conv1_1")),
                                           ("content_layers", ("conv4_2", "conv3_1", "conv4_2"))])
def test_a_layer_named_twice_is_refused(field, layers):
    flag = "--" + field.replace("_", "-")
    with pytest.raises(ReproduceError, match=rf"^{flag} names {layers[-1]} twice"):
        TransferConfig(**{field: layers})


def test_huge_blend_weights_do_not_overflow(net64):
    """1e308 + 1e308 overflows; the weights are scaled by their largest first: the targets are
    the same as for equal weights of 1."""
    from reproduce.method.objective import Objective
    rng = np.random.default_rng(0)
    import torch
    s1, s2 = (torch.from_numpy(rng.normal(0, 50, (1, 3, 16, 16))) for _ in range(2))
    huge = Objective(net64, None, [s1, s2], TransferConfig(styles=("a", "b"),
                                                            style_blend=(1e308, 1e308)))
    plain = Objective(net64, None, [s1, s2], TransferConfig(styles=("a", "b"),
                                                             style_blend=(1.0, 1.0)))
    for layer in plain.style_layers:
        assert torch.isfinite(huge.E_l[layer].A).all()
        torch.testing.assert_close(huge.E_l[layer].A, plain.E_l[layer].A, rtol=1e-15, atol=0)


# --- item 16: loss honours --max-pixels for --image ---------------------------------------------

def test_loss_honours_max_pixels_for_its_image(small_vgg, tmp_path, pictures, capsys):
    big = tmp_path / "big.png"
    iio.imwrite(big, np.zeros((300, 300, 3), np.uint8))
    code = run_main(cli.main, ["loss", "--content", str(pictures["photo"]), "--style",
                               str(pictures["painting"]), "--model", str(small_vgg), "--size",
                               "24", "--device", "cpu", "--image", str(big), "--max-pixels",
                               "10000"])
    err = capsys.readouterr().err
    assert code == 2 and "big.png: the image is 300×300 = 90,000 pixels, above the limit" in err
