"""Memory: the network run in stages (each blob handed out as it is computed), recomputation
in the backward pass with the same f and ∇f, the estimate against the measured peak, and the
plan that recomputes or refuses a size, naming what fits."""
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from reproduce.errors import ReproduceError
from reproduce.files import ROOT
from reproduce.method.objective import Objective
from reproduce.network import load_network
from reproduce.run import memory, transfer
from reproduce.run.config import TransferConfig

LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2", "conv5_1")
PHOTO, PAINTING = ROOT / "data" / "inputs" / "tubingen.jpg", ROOT / "data" / "inputs" / "starry_night.jpg"


@pytest.fixture(scope="module")
def net(small_vgg):
    return load_network(small_vgg, pooling="avg")


def objective_at(net, side=48):
    generator = torch.Generator().manual_seed(0)
    content, style = (torch.rand(1, 3, side, side, generator=generator) * 200 - 100
                      for _ in range(2))
    return Objective(net, content, [style], TransferConfig())


def test_blobs_in_stages_are_the_whole_networks(net):
    """Handed out one by one, in the order the network computes them, each blob equals the
    one the whole module returns."""
    x = torch.randn(1, 3, 40, 56, generator=torch.Generator().manual_seed(1))
    order = [name for name, _ in net.blobs_in_order(x, LAYERS[::-1])]
    assert order == ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2", "conv5_1"]
    whole = dict(zip(LAYERS, net.module_for(LAYERS)(x)))
    for name, blob in net.blobs_in_order(x, LAYERS):
        assert torch.equal(blob, whole[name]), name


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_recomputation_gives_the_same_loss_and_gradient(small_vgg, pooling):
    """The stages recomputed in the backward pass repeat the same operations on the same
    inputs: measured, f and ∇f are bit for bit those of the plain run."""
    net = load_network(small_vgg, pooling=pooling)
    objective = objective_at(net)
    x = torch.randn(1, 3, 48, 48, generator=torch.Generator().manual_seed(2)) * 50
    f, g, _ = objective.value_and_grad(x)
    net.recompute = True
    try:
        f_r, g_r, _ = objective.value_and_grad(x)
    finally:
        net.recompute = False
    assert f.item() > 0 and g.abs().max() > 0
    assert torch.equal(f_r, f) and torch.equal(g_r, g)  # measured difference: exactly zero


def test_recomputation_keeps_less_for_the_backward_pass(net):
    """What autograd saves for the backward pass (every storage once, the weights left out):
    with recomputation only what crosses between stages and what the losses keep (measured:
    58 % of the plain run's here, where the Gram terms weigh more than at full size)."""
    objective = objective_at(net)
    weights = {p.untyped_storage().data_ptr() for p in net.module.parameters()}

    def saved(recompute):
        storages = {}

        def pack(t):
            storage = t.untyped_storage()
            if storage.data_ptr() not in weights:
                storages[storage.data_ptr()] = storage.nbytes()
            return t

        net.recompute = recompute
        try:
            x = torch.zeros(1, 3, 48, 48, requires_grad=True)
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                objective.losses(x)
        finally:
            net.recompute = False
        return sum(storages.values())

    assert 0 < saved(True) < 0.65 * saved(False)


def test_the_estimate_grows_with_the_pixels_and_recomputation_lowers_it(net, monkeypatch):
    """The parts that grow with the image grow with its pixels (the probes' line), the
    optimiser's with 3·H·W variables: 20 pairs of two float64 vectors at least."""
    config = TransferConfig(content=str(PHOTO), styles=(str(PAINTING),), optimiser="scipy")
    monkeypatch.setattr(memory, "process_bytes", lambda device: 0)
    small, large = (memory.estimate(net, config, shape, recompute=False)
                    for shape in ((240, 320), (480, 640)))
    assert 3.6 < large.evaluation / small.evaluation < 4.2
    assert large.optimiser > 2 * 20 * 8 * 3 * 480 * 640
    assert 3.9 < large.optimiser / small.optimiser < 4.1
    recomputed = memory.estimate(net, config, (480, 640), recompute=True)
    assert recomputed.evaluation < large.evaluation and recomputed.recompute


# `python -m reproduce transfer ARGS` that prints its own peak last (VmHWM: starts afresh at exec,
# unlike a child's ru_maxrss, which keeps the peak of the test process it was forked from)
TRANSFER_WITH_PEAK = ("import sys; from reproduce.__main__ import main; "
                      "from reproduce.errors import run_main; "
                      "from reproduce.process import peak_rss_bytes; "
                      "code = run_main(main, ['transfer'] + sys.argv[1:]); "
                      "print(peak_rss_bytes()); sys.exit(code)")


def transfer_with_peak(small_vgg, tmp_path, size):
    """A `transfer` process (scipy, all 20 pairs filled) that prints its peak resident memory."""
    return subprocess.Popen(
        [sys.executable, "-c", TRANSFER_WITH_PEAK, "--content", str(PHOTO), "--style",
         str(PAINTING), "--model", str(small_vgg), "--size", str(size), "--iterations", "22",
         "--optimiser", "scipy", "--device", "cpu", "--output", str(tmp_path / f"{size}.png"),
         "--log", str(tmp_path / f"{size}.json")], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def test_the_estimate_is_within_a_quarter_of_the_measured_peak(small_vgg, tmp_path):
    """Three sizes on the small network, each a real `transfer` process with the command line's
    own settings (run side by side): the estimate it planned with and logged lies within 25 %
    of its peak resident memory."""
    runs = {size: transfer_with_peak(small_vgg, tmp_path, size) for size in (256, 448, 640)}
    for size, run in runs.items():
        out, err = run.communicate(timeout=600)
        assert run.returncode == 0, err
        peak, estimate = int(out.split()[-1]), json.load(open(tmp_path / f"{size}.json"))["memory"]
        assert not estimate["recompute"]
        assert 0.75 * peak <= estimate["total"] <= 1.25 * peak, (size, peak, estimate)


def test_auto_recomputes_when_the_plain_run_would_not_fit(net, monkeypatch):
    config = TransferConfig(content=str(PHOTO), styles=(str(PAINTING),))
    monkeypatch.setattr(memory, "process_bytes", lambda device: 2**30)  # as it stands: held still
    plain = memory.estimate(net, config, (480, 640), recompute=False)
    recomputed = memory.estimate(net, config, (480, 640), recompute=True)
    between = (plain.total + recomputed.total) // 2
    monkeypatch.setattr(memory, "device_bytes", lambda device: between)
    released = []
    monkeypatch.setattr(memory, "release_freed_memory", lambda: released.append(True))
    try:
        planned = memory.plan(net, config, (480, 640), "--size")
        assert planned.recompute and net.recompute and released == [True]
    finally:
        net.recompute = False
    with pytest.raises(ReproduceError, match=r"^--size: an 480×640 image needs about .* GiB .*"
                                             r"; --recompute on may fit it$"):
        memory.plan(net, dataclasses.replace(config, recompute="off"), (480, 640), "--size")
    assert not net.recompute


def test_a_size_that_does_not_fit_is_refused_naming_what_fits(small_vgg, tmp_path, monkeypatch):
    """Before any target is taken and nothing written: the estimate by part, the device's
    memory, and the largest image of this aspect that fits (it does: checked)."""
    net = load_network(small_vgg)
    monkeypatch.setattr(memory, "process_bytes", lambda device: 2**30)  # held still
    have = 3 * 2**30
    monkeypatch.setattr(memory, "device_bytes", lambda device: have)
    config = TransferConfig(content=str(PHOTO), model=str(small_vgg), size=4000,
                            content_layers=("conv1_1",), output=str(tmp_path / "o.png"))
    with pytest.raises(ReproduceError) as refused:
        transfer.run_transfer(config, net, progress=False)
    message = str(refused.value)
    assert message.startswith("--size: an 3000×4000 image needs about ")
    assert "(the process " in message and "recomputed, the optimiser " in message
    fit_h, fit_w = (int(n) for n in message.rsplit("at most about ", 1)[1].split()[0].split("×"))
    assert abs(fit_w / fit_h - 4 / 3) < 0.01
    assert 0.9 * have < memory.estimate(net, config, (fit_h, fit_w), recompute=True).total <= have
    assert not (tmp_path / "o.png").exists()


def test_the_log_records_the_memory_plan(small_vgg, tmp_path, pictures):
    config = TransferConfig(content=str(pictures["photo"]), styles=(str(pictures["painting"]),),
                            model=str(small_vgg), size=32, iterations=2, recompute="on",
                            output=str(tmp_path / "o.png"), log=str(tmp_path / "o.json"))
    summary = transfer.run_transfer(config, progress=False)
    record = json.load(open(tmp_path / "o.json"))["memory"]
    assert record == summary.memory and record["recompute"] is True
    assert record["total"] == sum(record[p] for p in ("process", "evaluation", "optimiser"))
    assert np.isfinite(summary.losses.total)


def test_live_tensors_counts_what_is_alive_at_once():
    """Counted by hand: a 2000-float tensor (8000 bytes) and its double alive together, a view
    and an in-place result adding nothing, a freed tensor no longer counted, a small one (under
    SMALLEST bytes) left out."""
    assert memory.SMALLEST == 4096
    with memory.LiveTensors() as tensors:
        a = torch.ones(2000)
        b = a * 2
        view, _ = b[:10], b.mul_(3)
        del a
        c = torch.ones(1000, dtype=torch.float64)  # 8000 bytes, where a was
        small = torch.ones(1000)  # 4000 bytes
        assert len(tensors.live) == 2
    assert tensors.peak == 16000
    assert view.sum() > 0 and c.sum() > 0 and small.sum() > 0
