"""scripts/bench.py: its FLOP count, its hand-written VGG-19 (the yardstick the converted network
is timed against) on the real-Caffe fixture, its random-weight model, and a run at a tiny size."""
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from reproduce.caffe.read import blob_array, read_caffemodel
from reproduce.caffe.synthetic import write_random_caffemodel
from reproduce.method.losses import gram
from reproduce.network import load_network
from reproduce.network.convert import convert
from tests.helpers import VGG_DIV8, load_script


@pytest.fixture(scope="module")
def bench():
    return load_script("bench")


def test_flop_count_matches_a_hand_count(bench):
    conv1 = nn.Conv2d(3, 4, 3, padding=1).requires_grad_(False)  # 1×3×8×8 -> 1×4×8×8
    conv2 = nn.Conv2d(4, 2, 3).requires_grad_(False)              # -> 1×2×6×6

    def evaluation():
        x = torch.randn(1, 3, 8, 8, requires_grad=True)
        F = conv2(torch.relu(conv1(x))).reshape(2, 36)
        gram(F).sum().backward()

    # 2 FLOPs per multiply-add: per output value, C_in·3·3 of them in a convolution and M in G
    conv_forward = 2 * (4 * 8 * 8) * (3 * 9) + 2 * (2 * 6 * 6) * (4 * 9)
    gram_forward = 2 * (2 * 2) * 36
    # backward: the inputs' gradients only (weights need none), as costly as the forward; the
    # Gram matrix's backward is one product (D + Dᵀ) F of the same size as its forward
    assert bench.count_flops(evaluation) == 2 * conv_forward + 2 * gram_forward


def caffe_weights(caffemodel):
    """{"conv1_1.weight": ..., "conv1_1.bias": ...} read straight from the caffemodel."""
    state = {}
    for name, blobs in read_caffemodel(caffemodel).weights.items():
        if name.startswith("conv"):
            weight, bias = (blob_array(b, name) for b in blobs)
            state[f"{name}.weight"] = torch.from_numpy(weight.copy())
            state[f"{name}.bias"] = torch.from_numpy(bias.reshape(-1).copy())
    return state


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_plain_vgg_gives_the_converted_blobs(bench, small_vgg, pooling):
    net = load_network(small_vgg, pooling=pooling)
    plain = bench.plain_vgg19(caffe_weights(VGG_DIV8 / "vgg19_v1.caffemodel"), pooling)
    x = torch.from_numpy(np.load(VGG_DIV8 / "input.npy"))  # 37×53: ceil-mode pooling matters
    expected = net.blobs(x, net.blob_names)
    blobs = {}
    with torch.no_grad():
        for name, layer in plain.named_children():
            x = blobs[name] = layer(x)
    assert list(blobs) == net.blob_names
    for name, blob in blobs.items():
        scale = float(expected[name].abs().max())
        assert scale > 0
        torch.testing.assert_close(blob, expected[name], rtol=1e-5, atol=1e-5 * scale)


def test_random_caffemodel_converts_and_keeps_the_scale(bench, tmp_path):
    write_random_caffemodel(VGG_DIV8 / "deploy_max.prototxt", tmp_path / "random.caffemodel")
    net = load_network(convert(VGG_DIV8 / "deploy_max.prototxt", tmp_path / "random.caffemodel",
                               tmp_path, until="pool5")["onnx"])
    x = torch.from_numpy(np.load(VGG_DIV8 / "input.npy"))
    blob = net.blobs(x, ["conv5_1"])["conv5_1"]
    assert torch.isfinite(blob).all()
    assert 1e-2 < float(blob.std() / x.std()) < 1e2


def test_main_runs_at_a_tiny_size(bench, small_vgg, tmp_path, capsys):
    out = tmp_path / "bench.json"
    bench.main(["--model", str(small_vgg), "--sizes", "24,32", "--iterations", "3",
                "--repeats", "2", "--warmup", "0", "--device", "cpu", "--json", str(out)])
    report = json.loads(out.read_text())
    assert report["settings"]["device"] == "cpu" and report["environment"]["onnx"]
    rows = report["results"]
    assert [r["size"] for r in rows] == [24, 32] and max(rows[1]["shape"]) == 32
    for row in rows:
        assert row["last_layer"] == "conv5_1"
        for optimiser in ("scipy", "device"):
            key = f"lbfgs_{optimiser}_"
            assert row[key + "iterations"] == 3 and row[key + "evaluations"] >= 3
            # counted from timings: on a loaded machine the window can miss an evaluation
            assert 0 <= row[key + "evaluations_per_iteration"] <= row[key + "evaluations"]
            assert math.isfinite(row[key + "ratio"]) and row[key + "ratio"] > 0
        for key in ("forward_ratio", "forward_backward_ratio", "evaluation_ratio",
                    "evaluation_gflop", "evaluation_gflops", "peak_memory_mb"):
            assert math.isfinite(row[key]) and row[key] > 0, key
    table = capsys.readouterr().out
    assert "ratio converted / plain" in table and "achieved GFLOP/s" in table
    assert "L-BFGS-B (scipy) iteration" in table and "L-BFGS-B on the device iteration" in table


def test_memory_slope_is_the_least_squares_line(small_vgg):
    bench_memory = load_script("bench_memory")
    rows = [dict(pixels=p, peak_gb=1.2 + 2.5 * p / 1e6) for p in (49152, 196608, 786432)]
    assert bench_memory.slope(rows) == pytest.approx(2.5)
    assert bench_memory.slope(rows[:1]) is None


def test_memory_bench_runs_at_tiny_sizes(small_vgg, tmp_path, capsys):
    out = tmp_path / "memory.json"
    load_script("bench_memory").main(["--model", str(small_vgg), "--sizes", "48",
                                      "--recompute", "on", "--iterations", "2", "--device", "cpu",
                                      "--json", str(out)])
    report = json.loads(out.read_text())
    (row,) = report["results"]
    assert (row["size"], row["shape"], row["recompute"], row["recomputed"]) == \
        (48, [36, 48], "on", True)
    assert row["peak_gb"] > 0.1 and row["estimate_gb"] > 0.1 and row["iterations"] == 2
    assert row["estimate_gb"] == pytest.approx(sum(row["parts_gb"].values()))
    assert report["gb_per_megapixel"]["on"] is None  # one size: no line
    assert capsys.readouterr().out.splitlines()[1].split()[:3] == ["48", "36×48", "on"]
