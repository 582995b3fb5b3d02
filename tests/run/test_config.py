"""One definition of the parameters: the paper's values as literals, the α/β rule through every
path (API, `transfer`, `loss`), every bad parameter and output refused up front naming its flag."""
import dataclasses
import json
import math

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from reproduce import __main__ as cli
from reproduce.errors import ReproduceError, run_main
from reproduce.image import preprocess
from reproduce.method.objective import Objective
from reproduce.method.weights import loss_weights, resolve_weights
from reproduce.network import load_network
from reproduce.optim import OPTIMISERS
from reproduce.optim.minimiser import minimiser
from reproduce.run import prepare, transfer
from reproduce.run.config import TransferConfig
from reproduce.run.prepare import white_noise


def test_the_papers_layers_and_weights():
    """arXiv 1508.06576, Fig. 2: content at conv4_2; style on conv1_1 … conv5_1 with
    w_l = 1/5; β = 1e6 with the ratio (the authors' suggestion for their sums)."""
    config = TransferConfig()
    assert config.content_layers == ("conv4_2",)
    assert config.style_layers == ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
    assert config.ratio == 1e-3 and config.pooling == "avg" and config.init == "noise"
    assert resolve_weights(1e-3) == (1e3, 1e6)


def test_style_layer_weights_are_one_fifth(small_vgg):
    net = load_network(small_vgg)
    style = preprocess(np.full((16, 16, 3), 100.0, np.float32))
    objective = Objective(net, None, [style], TransferConfig(styles=("s",)))
    assert objective.w == {l: 0.2 for l in ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")}


def test_white_noise_start_is_standard_normal_in_the_preprocessed_space():
    """N(0, 1) per pixel of the 0..255 − mean image (the authors' code), seeded."""
    config = TransferConfig(content="c.png", seed=5)
    x = white_noise((64, 64), config.seed)
    assert x.shape == (1, 3, 64, 64)
    assert abs(float(x.mean())) < 0.05 and abs(float(x.std()) - 1.0) < 0.05
    torch.testing.assert_close(white_noise((64, 64), 5), x)


def test_preprocessing_subtracts_the_bgr_means():
    """Caffe VGG-19's mean pixel, BGR: 103.939, 116.779, 123.68."""
    x = preprocess(np.zeros((2, 2, 3), np.float32) + [[[10.0, 20.0, 30.0]]])  # RGB
    np.testing.assert_allclose(x[0, :, 0, 0].numpy(), [30 - 103.939, 20 - 116.779, 10 - 123.68],
                               rtol=1e-6)


# (ratio, alpha, beta) -> (α, β): the rule of resolve_weights, written out
WEIGHTS = [
    (dict(), (1e3, 1e6)),                               # the ratio alone: β = 1e6
    (dict(ratio=1e-4), (1e2, 1e6)),
    (dict(beta=2.0), (2e-3, 2.0)),                      # β alone: α = ratio · β
    (dict(ratio=1e-2, alpha=5.0), (5.0, 500.0)),        # α alone: β = α / ratio
    (dict(alpha=3.0, beta=7.0), (3.0, 7.0)),            # both: as given
    (dict(alpha=0.0), (0.0, 1e6)),                      # pure style
    (dict(beta=0.0), (1e3, 0.0)),                       # pure content
]


@pytest.mark.parametrize("given, expected", WEIGHTS)
def test_alpha_beta_from_the_api(given, expected):
    config = TransferConfig(content="c.png", styles=("s.png",), **given)
    assert loss_weights(config, True, True) == pytest.approx(expected, rel=1e-12)


def flags(given):
    return [a for k, v in given.items() for a in (f"--{k}", repr(v))]


@pytest.mark.parametrize("given, expected", WEIGHTS)
def test_alpha_beta_from_the_transfer_command_line(given, expected, small_vgg, tmp_path, pictures,
                                                  one_thread):
    log = tmp_path / "log.json"
    code = run_main(cli.main, ["transfer", "--content", str(pictures["photo"]), "--style",
                               str(pictures["painting"]), "--model", str(small_vgg), "--size",
                               "16", "--iterations", "1", "--output", str(tmp_path / "o.png"),
                               "--log", str(log), *flags(given)])
    assert code == 0
    record = json.loads(log.read_text())
    assert (record["alpha"], record["beta"]) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("given, expected", WEIGHTS)
def test_alpha_beta_from_the_loss_command_line(given, expected, small_vgg, pictures, capsys,
                                              tmp_path, one_thread):
    image = tmp_path / "grey.png"
    iio.imwrite(image, np.full((16, 24, 3), 90, np.uint8))
    code = run_main(cli.main, ["loss", "--content", str(pictures["photo"]), "--style",
                               str(pictures["painting"]), "--model", str(small_vgg), "--size", "16",
                               "--image", str(image), "--json", *flags(given)])
    assert code == 0
    L = json.loads(capsys.readouterr().out)
    alpha, beta = expected
    assert L["content"] > 0 and L["style"] > 0
    assert L["total"] == pytest.approx(alpha * L["content"] + beta * L["style"], rel=1e-5)


def test_every_command_line_default_is_the_configs():
    for command in ("transfer", "loss"):
        args = ["--content", "c.png", "--output", "o.png"] if command == "transfer" else \
            ["--content", "c.png"]
        parser = cli.argparse.ArgumentParser()
        cli.add_config_flags(parser, command)
        config = cli.config_of(parser.parse_args(args))
        for f in dataclasses.fields(TransferConfig):
            if f.name not in ("content", "output"):
                assert getattr(config, f.name) == getattr(TransferConfig(), f.name), f.name


@pytest.mark.parametrize("given, message", [
    (dict(seed=-1), "--seed must be an integer >= 0, not -1"),
    (dict(beta=math.nan), "--beta must be a finite number >= 0, not nan"),
    (dict(alpha=math.nan), "--alpha must be a finite number >= 0, not nan"),
    (dict(alpha=-1.0), "--alpha must be a finite number >= 0"),
    (dict(ratio=math.inf), "--ratio must be a finite number > 0, not inf"),
    (dict(ratio=0.0), "--ratio must be a finite number > 0"),
    (dict(alpha=math.inf), "--alpha must be a finite number >= 0, not inf"),
    (dict(beta=math.inf), "--beta must be a finite number >= 0, not inf"),
    (dict(alpha=0.0, beta=0.0), "--alpha and --beta are both 0"),
    (dict(styles=("a", "b"), style_blend=(1.0, math.inf)), "--style-blend: weights must be finite"),
    (dict(styles=("a", "b"), style_blend=(1.0, 0.0)), "--style-blend: weights must be positive"),
    (dict(styles=("a", "b"), style_blend=(1.0,)), "--style-blend needs one weight per style image"),
    (dict(styles=("a",), style_weights=(1.0, math.inf, 0, 0, 0)),
     "--style-weights: weights must be finite"),
    (dict(styles=("a",), style_weights=(1.0, -1.0, 0, 0, 0)), "--style-weights: weights must be"),
    (dict(styles=("a",), style_weights=(0, 0, 0, 0, 0)), "--style-weights: weights must be"),
    (dict(save_every=-1), "--save-every must be an integer >= 0, not -1"),
    (dict(content_layers=()), "--content-layers needs at least one layer name"),
    (dict(styles=("a",), style_layers=()), "--style-layers needs at least one layer name"),
    (dict(size=0), "--size must be an integer >= 1, not 0"),
    (dict(size=1.5), "--size must be an integer >= 1, not 1.5"),
    (dict(iterations=0), "--iterations must be an integer >= 1, not 0"),
    (dict(max_pixels=0), "--max-pixels must be an integer >= 1, not 0"),
    (dict(optimiser="adam"), "--optimiser must be one of scipy, device, not 'adam'"),
    (dict(pooling="min"), "--pooling must be one of avg, max"),
    (dict(style_size="big"), "--style-size must be one of content, keep"),
    (dict(style_loss="l2"), "--style-loss must be one of gram, mmd-linear, mmd-poly, mmd-gaussian, "
                            "stats, sliced-wasserstein, not 'l2'"),
    (dict(style_loss="mmd-gaussian", styles=("a", "b")), "--style-loss mmd-gaussian takes one "
                                                         "style image"),
    (dict(style_loss="mmd-poly", mmd_c=-1.0), "--mmd-c must be a finite number >= 0, not -1.0"),
    (dict(style_loss="mmd-poly", mmd_c=math.nan), "--mmd-c must be a finite number >= 0, not nan"),
    (dict(mmd_c=0.0), "--mmd-c is the c of --style-loss mmd-poly, not of gram"),
    (dict(style_crop="circle"), "--style-crop must be one of square, not 'circle'"),
    (dict(regions=("sky:m.png",)), "--region 'sky:m.png': write NAME:CONTENT_MASK:STYLE_IMAGE"),
    (dict(regions=("sky:m.png:s.png", "sky:n.png:t.png")), "--region: two regions are called 'sky'"),
    (dict(regions=("sky:m.png:s.png",), styles=("s.png",)), "--region names each region's style"),
    (dict(regions=("sky:m.png:s.png",), style_loss="stats"), "--region matches guided Gram"),
    (dict(guide_mode="outside"), "--guide-mode must be one of simple, inside"),
    (dict(guide_grow=1.5), "--guide-grow must be an integer"),
    (dict(pyramid=(512, 256)), "--pyramid: coarse to fine, each stage larger than the one before"),
    (dict(pyramid=(256, 512), pyramid_iterations=(500,)), "--pyramid-iterations needs one count per"),
    (dict(pyramid=(0, 512)), "--pyramid must be whole numbers >= 1"),
    (dict(fine_style="f.png", styles=("a.png", "b.png")), "--fine-style needs a content image and one"),
    (dict(fine_style="f.png", styles=("a.png",), fine_iterations=0),
     "--fine-iterations must be an integer >= 1"),
])
def test_bad_parameters_are_refused_naming_their_flag(given, message):
    with pytest.raises(ReproduceError, match="^" + message.replace("(", r"\(")):
        TransferConfig(**{"content": "c.png", **given})


@pytest.mark.parametrize("argv, message", [
    (["--seed", "-1"], "error: --seed must be an integer >= 0, not -1"),
    (["--beta", "nan"], "error: --beta must be a finite number >= 0, not nan"),
    (["--ratio", "inf"], "error: --ratio must be a finite number > 0, not inf"),
    (["--save-every", "-1"], "error: --save-every must be an integer >= 0, not -1"),
    (["--content-layers", ","], "error: --content-layers needs at least one layer name, not ()"),
    (["--style-weights", "1,inf,1,1,1"], "error: --style-weights: weights must be finite"),
])
def test_bad_flags_are_one_line_before_anything_loads(argv, message, tmp_path, capsys,
                                                     monkeypatch):
    monkeypatch.setattr(prepare, "load_network", None)  # never reached
    code = run_main(cli.main, ["transfer", "--content", "c.png", "--style", "s.png", "--output",
                               str(tmp_path / "o.png"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(message) and err.count("\n") == 1


def test_loss_checks_its_image_before_loading_the_network(pictures, capsys, monkeypatch):
    monkeypatch.setattr(prepare, "load_network", None)  # never reached
    code = run_main(cli.main, ["loss", "--content", str(pictures["photo"]), "--image", "nope.png"])
    assert code == 2 and capsys.readouterr().err == "error: --image nope.png: no such image\n"


def test_an_unreadable_number_is_a_one_line_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["transfer", "--output", "o.png", "--size", "abc"])
    err = capsys.readouterr().err
    assert caught.value.code == 2 and err.count("\n") == 1
    assert err.startswith("error: argument --size: cannot read 'abc'")


def test_the_style_loss_registry_is_the_configs_list():
    """One definition: --style-loss offers the registry's names, each a class of style_losses;
    gram (the paper's eq. 4) is the default, c = 1 mmd-poly's."""
    from reproduce.method import STYLE_LOSSES
    from reproduce.method.style_losses import LOSS_CLASSES
    choices = TransferConfig.__dataclass_fields__["style_loss"].metadata["choices"]
    assert choices == tuple(STYLE_LOSSES) == tuple(LOSS_CLASSES) == (
        "gram", "mmd-linear", "mmd-poly", "mmd-gaussian", "stats", "sliced-wasserstein")
    assert (TransferConfig().style_loss, TransferConfig().mmd_c) == ("gram", 1.0)
    for command in ("transfer", "loss"):
        parser = cli.argparse.ArgumentParser()
        cli.add_config_flags(parser, command)
        output = ["--output", "o.png"] if command == "transfer" else []
        args = parser.parse_args(["--style-loss", "mmd-poly", "--mmd-c", "0.5", "--seed", "3",
                                  *output])
        assert (args.style_loss, args.mmd_c, args.seed) == ("mmd-poly", 0.5, 3)


def test_the_optimiser_registry_is_the_configs_list():
    """One definition: the configuration's choices are the registry's names, each a module
    with a `minimise`."""
    choices = TransferConfig.__dataclass_fields__["optimiser"].metadata["choices"]
    assert choices == tuple(OPTIMISERS) == ("scipy", "device")
    assert all(callable(minimiser(name)) for name in OPTIMISERS)
    with pytest.raises(ReproduceError, match="optimiser must be one of scipy, device, not 'adam'"):
        minimiser("adam")


@pytest.mark.parametrize("output, log, message", [
    ("result", None, "--output .*result: the suffix must be one of .png"),
    ("result.xyz", None, "--output .*result.xyz: the suffix must be one of"),
    ("folder", None, "--output .*folder: is a folder"),
    ("file.txt/out.png", None, "--output .*is a file, not a folder"),
    ("/proc/out/x.png", None, "--output /proc/out: cannot write in /proc"),
    ("out.png", "folder", "--log .*folder: is a folder"),
    ("out.png", "log.txt", "--log .*log.txt: the suffix must be one of .json"),
    ("out.png", "file.txt/log.json", "--log .*is a file, not a folder"),
    ("out.png", "out.png", "--log .*suffix"),
    ("c.png", None, "--output .*c.png would overwrite the input --content"),
])
def test_outputs_are_checked_before_the_network_loads(output, log, message, tmp_path, monkeypatch,
                                                      pictures):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "c.png").write_bytes(pictures["photo"].read_bytes())

    def path(name):
        return name if name is None or name.startswith("/") else str(tmp_path / name)

    monkeypatch.setattr(prepare, "load_network", None)  # never reached
    config = TransferConfig(content=path("c.png"), output=path(output), log=path(log),
                            model=str(tmp_path / "missing.pt"))
    with pytest.raises(ReproduceError, match=message):
        transfer.run_transfer(config, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png", "file.txt", "folder"]


