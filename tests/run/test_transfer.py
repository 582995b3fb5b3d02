"""L-BFGS-B synthesis end to end on the small VGG: it converges, reconstructs, repeats, and refuses
bad input without writing anything."""
import json
import signal
import subprocess
import sys
import time

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from reproduce.errors import Interrupted, ReproduceError
from reproduce.image import load_image
from reproduce.method.objective import Objective
from reproduce.network import load_network
from reproduce.run.config import TransferConfig
from reproduce.run.transfer import TransferInterrupted, run_transfer


def config(small_vgg, tmp_path, **overrides):
    base = dict(model=str(small_vgg), output=str(tmp_path / "out.png"), size=48, iterations=30,
                log=str(tmp_path / "log.json"))
    return TransferConfig(**{**base, **overrides})


@pytest.mark.parametrize("optimiser", ["scipy", "device"])
def test_loss_falls_by_orders_of_magnitude(small_vgg, tmp_path, pictures, optimiser):
    summary = run_transfer(config(small_vgg, tmp_path, content=str(pictures["photo"]),
                                  styles=(str(pictures["painting"]),), iterations=60,
                                  optimiser=optimiser),
                           progress=False)
    log = json.load(open(tmp_path / "log.json"))
    assert len(log["history"]) == summary.iterations == 60
    assert log["history"][-1]["total"] < log["history"][0]["total"] / 100
    assert load_image(summary.output).shape == (32, 48, 3)
    assert set(log["losses"]["E"]) == set(TransferConfig.style_layers)
    assert log["config"]["iterations"] == 60 and len(log["model_sha256"]) == 64


def test_style_only_synthesis_lowers_gram_distance(small_vgg, tmp_path, pictures):
    cfg = config(small_vgg, tmp_path, styles=(str(pictures["painting"]),), iterations=20)
    summary = run_transfer(cfg, progress=False)
    history = json.load(open(tmp_path / "log.json"))["history"]
    assert summary.alpha == 0.0
    for layer in cfg.style_layers:
        assert summary.losses.E[layer] < history[0]["E"][layer]
    assert summary.losses.style < history[0]["style"] / 10


def test_content_reconstruction_from_an_early_layer(small_vgg, tmp_path, pictures):
    cfg = config(small_vgg, tmp_path, content=str(pictures["photo"]), content_layers=("conv1_1",),
                 iterations=100, log=None)
    summary = run_transfer(cfg, progress=False)
    assert summary.beta == 0.0
    difference = np.abs(load_image(summary.output) - load_image(pictures["photo"]))
    assert difference.mean() < 3.0  # of 255, from white noise


@pytest.mark.parametrize("optimiser", ["scipy", "device"])
def test_same_seed_same_image_other_seed_other_image(small_vgg, tmp_path, pictures, optimiser):
    def render(seed, name):
        cfg = config(small_vgg, tmp_path, content=str(pictures["photo"]),
                     styles=(str(pictures["painting"]),), iterations=5, seed=seed,
                     optimiser=optimiser,
                     output=str(tmp_path / name), log=None)
        return iio.imread(run_transfer(cfg, progress=False).output)
    first, again, other = render(3, "a.png"), render(3, "b.png"), render(4, "c.png")
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("overrides, message", [
    (dict(content="missing.png"), "no such image"),
    (dict(content_layers=("conv9_9",)), "unknown layer conv9_9"),
    (dict(model="README.md"), "not a readable network file"),
    (dict(device="tpu"), "unknown device 'tpu'"),
    (dict(content=None), "give a content image"),
    (dict(init="style"), "--init style needs a style image"),
])
def test_bad_input_writes_nothing(small_vgg, tmp_path, pictures, overrides, message):
    cfg = config(small_vgg, tmp_path, **{"content": str(pictures["photo"]), **overrides})
    with pytest.raises(ReproduceError, match=message):
        run_transfer(cfg, progress=False)
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "log.json").exists()


def test_command_line_transfer_and_loss(small_vgg, tmp_path, pictures):
    common = ["--content", str(pictures["photo"]), "--style", str(pictures["painting"]),
              "--model", str(small_vgg), "--size", "32"]
    out = tmp_path / "cli.png"
    run = subprocess.run([sys.executable, "-m", "reproduce", "transfer", *common, "--iterations",
                          "3", "--output", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert out.exists()
    score = subprocess.run([sys.executable, "-m", "reproduce", "loss", *common, "--image", str(out),
                            "--json"], capture_output=True, text=True)
    assert score.returncode == 0, score.stderr
    losses = json.loads(score.stdout)
    assert losses["total"] == pytest.approx(losses["content"] * 1e3 + losses["style"] * 1e6,
                                            rel=1e-5)
    bad = subprocess.run([sys.executable, "-m", "reproduce", "transfer", *common, "--output",
                          str(tmp_path / "no.png"), "--style-layers", "conv1_1,nope"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown layer nope")
    assert not (tmp_path / "no.png").exists()


@pytest.mark.parametrize("init", ["content", "style", "file"])
def test_other_starts(small_vgg, tmp_path, pictures, init):
    start = str(pictures["painting"]) if init == "file" else init
    cfg = config(small_vgg, tmp_path, content=str(pictures["photo"]),
                 styles=(str(pictures["painting"]),), init=start, iterations=1, log=None,
                 save_every=1)
    run_transfer(cfg, progress=False)
    start, other = ("photo", "painting") if init == "content" else ("painting", "photo")
    def distance(name):
        return np.abs(load_image(cfg.output) - load_image(pictures[name])).mean()
    assert distance(start) < distance(other) / 2  # one L-BFGS-B step stays near its start


def test_arxiv_style_size_keeps_the_paintings_aspect(small_vgg, tmp_path, pictures):
    cfg = config(small_vgg, tmp_path, styles=(str(pictures["photo"]),), style_size="keep",
                 size=24, iterations=1, log=None)
    assert load_image(run_transfer(cfg, progress=False).output).shape == (16, 24, 3)


def test_cuda_without_a_gpu_is_a_clear_error(small_vgg, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ReproduceError, match="torch sees no CUDA device"):
        load_network(small_vgg, device="cuda")


@pytest.mark.parametrize("optimiser", ["scipy", "device"])
def test_interrupt_writes_the_last_iterate_marked_unfinished_then_propagates(
        small_vgg, tmp_path, pictures, monkeypatch, optimiser):
    calls = []
    value_and_grad = Objective.value_and_grad

    def interrupted_at_the_eighth(self, x):
        calls.append(1)
        if len(calls) == 8:
            raise Interrupted(15)
        return value_and_grad(self, x)

    monkeypatch.setattr(Objective, "value_and_grad", interrupted_at_the_eighth)
    cfg = config(small_vgg, tmp_path, content=str(pictures["photo"]), optimiser=optimiser)
    with pytest.raises(TransferInterrupted) as caught:
        run_transfer(cfg, progress=False)
    log = json.load(open(cfg.log))
    assert isinstance(caught.value, Interrupted) and caught.value.signum == 15
    assert caught.value.summary.completed is False and caught.value.summary.stop == "interrupted"
    assert log["stop"] == "interrupted" and log["completed"] is False
    assert 1 <= log["iterations"] == len(log["history"]) < 8
    assert load_image(cfg.output).shape == (32, 48, 3)


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_to_the_command_line_writes_image_and_log(small_vgg, tmp_path, pictures, signum,
                                                           code):
    """A real `python -m reproduce transfer` process, signalled once iterations are running:
    the image and the log are written, marked unfinished, and the message says how to go on."""
    out, log = tmp_path / "run.png", tmp_path / "run.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "reproduce", "transfer", "--content", str(pictures["photo"]),
         "--style", str(pictures["painting"]), "--model", str(small_vgg), "--size", "32",
         "--iterations", "100000", "--save-every", "1", "--output", str(out), "--log", str(log),
         "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not out.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # --save-every 1: the image appears after the first iteration
        assert out.exists(), process.stderr.read() if process.poll() is not None else "no image"
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == code, stderr
    record = json.load(open(log))
    assert record["completed"] is False and record["stop"] == "interrupted"
    assert 1 <= record["iterations"] == len(record["history"]) < 100000
    assert f"stopped after {record['iterations']} of 100000 iterations" in stderr
    assert f"--init {out}" in stderr and stderr.rstrip().endswith(
        f"interrupted ({signal.Signals(signum).name})")
    assert load_image(out).shape == (21, 32, 3)
