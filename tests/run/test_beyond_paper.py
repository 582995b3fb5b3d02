"""The knobs beyond the 2015 paper, wired through the config, the objective and the command lines:
colour preservation (Gatys et al. 2016), total variation and style scale (neural-style's). Each
is off by default, and then the paper's objective and synthesis are exactly as without it."""
import json
import math

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from reproduce import __main__ as cli
from reproduce.errors import Interrupted, ReproduceError, run_main
from reproduce.image import deprocess, load_image, long_side_shape, preprocess, resize, save_image
from reproduce.image.files import write_image
from reproduce.method import colour
from reproduce.method.losses import (
    content_loss,
    feature_matrix,
    gram,
    style_layer_loss,
    style_loss,
    total_loss,
    total_variation,
)
from reproduce.method.objective import LossTerms, Objective
from reproduce.network import load_network
from reproduce.optim.synthesis import synthesise
from reproduce.run import memory, prepare, transfer
from reproduce.run.config import TransferConfig
from reproduce.run.transfer import run_transfer
from tests.helpers import small_transfer

ROUNDING = 0.5 * np.abs(colour.RGB_TO_YIQ).sum(axis=1)  # |ΔY|, |ΔI|, |ΔQ| from ±0.5 per channel


config = small_transfer


@pytest.fixture
def recorded(monkeypatch):
    """What run_transfer hands on: the images the Objective got, the start x0, and every image
    written (RGB before 8-bit rounding)."""
    seen = dict(written=[])

    class Recording(Objective):
        def __init__(self, net, content, styles, config, regions=()):
            seen.update(content=content, styles=styles)
            super().__init__(net, content, styles, config, regions)

    def recording_synthesise(objective, x0, **kwargs):
        seen["x0"] = x0
        return synthesise(objective, x0, **kwargs)

    def recording_write(path, rgb):
        seen["written"].append(np.array(rgb))
        write_image(path, rgb)

    monkeypatch.setattr(prepare, "Objective", Recording)
    monkeypatch.setattr(transfer, "synthesise", recording_synthesise)
    monkeypatch.setattr(transfer, "write_image", recording_write)
    return seen


def assert_grey(rgb):
    """R = G = B, but for float32 rounding of the means preprocessing subtracts."""
    np.testing.assert_allclose(rgb, np.repeat(rgb[..., :1], 3, axis=-1), rtol=0, atol=1e-4)


@pytest.fixture(scope="module")
def tall_painting(tmp_path_factory):
    """A 40×30 painting: another aspect than the 32×48 photograph."""
    path = tmp_path_factory.mktemp("tall") / "tall.png"
    y, x = np.mgrid[0:40, 0:30] / 10.0
    iio.imwrite(path, np.stack([127 + 120 * np.sin(x + y), 127 + 120 * np.cos(2 * x),
                                60 + 50 * y], -1).astype(np.uint8))
    return path


@pytest.fixture(scope="module")
def mid_photo(tmp_path_factory, pictures):
    """The photograph's colours squeezed into 64..191, so that a luminance change of the size a
    few iterations make rarely pushes a pixel out of 0..255."""
    path = tmp_path_factory.mktemp("mid") / "mid.png"
    iio.imwrite(path, (64 + iio.imread(pictures["photo"]) // 2).astype(np.uint8))
    return path


# --- style scale ---------------------------------------------------------------------------------

@pytest.mark.parametrize("style_size, scale, expected", [
    ("content", 0.5, (16, 24)), ("content", 1.5, (48, 72)), ("content", 1.0, (32, 48)),
    ("keep", 0.5, (24, 18)), ("keep", 2.0, (96, 72)), ("keep", 1.0, (48, 36))])
def test_gram_targets_are_taken_at_the_scaled_size(small_vgg, tmp_path, pictures, tall_painting,
                                                   recorded, style_size, scale, expected):
    """The 40×30 painting at S × the shape the paper takes it at: the photograph's 32×48
    (--style-size content) or its own aspect at long side 48 (keep)."""
    cfg = config(small_vgg, tmp_path, pictures, styles=(str(tall_painting),),
                 style_size=style_size, style_scale=scale, iterations=1, log=None)
    content, styles, shape = prepare.prepare_images(cfg)
    assert shape == (32, 48) and styles[0].shape == (*expected, 3)
    run_transfer(cfg, progress=False)
    style = recorded["styles"][0]
    assert tuple(style.shape) == (1, 3, *expected)
    net = load_network(small_vgg, pooling="avg")
    targets = Objective(net, None, [style], cfg).E_l
    blobs = net.blobs(preprocess(resize(load_image(tall_painting), expected)), cfg.style_layers)
    for layer in cfg.style_layers:
        torch.testing.assert_close(targets[layer].A, gram(feature_matrix(blobs[layer])),
                                   rtol=0, atol=0)


@pytest.mark.parametrize("style_size", ["content", "keep"])
def test_style_scale_one_is_the_papers_painting_bit_for_bit(small_vgg, tmp_path, pictures,
                                                            tall_painting, style_size):
    """S = 1 is the paper's painting: resized once, straight from the file, to the photograph's
    shape (content) or to its own aspect at --size (keep)."""
    cfg = config(small_vgg, tmp_path, pictures, styles=(str(tall_painting),),
                 style_size=style_size, style_scale=1.0)
    painting = load_image(tall_painting)
    paper = (32, 48) if style_size == "content" else long_side_shape(painting.shape[:2], 48)
    _, styles, _ = prepare.prepare_images(cfg)
    assert styles[0].tobytes() == resize(painting, paper).tobytes()


def test_a_style_scale_beyond_the_devices_memory_is_refused_naming_its_flag(
        small_vgg, tmp_path, pictures, monkeypatch):
    monkeypatch.setattr(memory, "device_bytes", lambda device: 2**30)
    cfg = config(small_vgg, tmp_path, pictures, size=48, style_scale=1000.0)
    with pytest.raises(ReproduceError, match=r"^--style-scale: an 48000×48000 image needs"):
        run_transfer(cfg, progress=False)
    assert not (tmp_path / "out.png").exists()


# --- colour preservation --------------------------------------------------------------------------

def test_luminance_only_keeps_the_contents_chroma(small_vgg, tmp_path, pictures, mid_photo,
                                                  recorded):
    """The network sees grey images; every image written (--save-every, final) is the result's
    luminance with the content's chroma. Clipping to 0..255 changes a pixel's chroma, so pixels
    with a channel at 0 or 255 are left out of the check (they must be few)."""
    cfg = config(small_vgg, tmp_path, pictures, content=str(mid_photo),
                 preserve_colour="luminance", save_every=1)
    summary = run_transfer(cfg, progress=False)
    photo = load_image(mid_photo, 48)
    yiq_C = colour.rgb_to_yiq(photo)
    for image in [recorded["content"], *recorded["styles"]]:
        assert_grey(deprocess(image))
    np.testing.assert_allclose(deprocess(recorded["content"])[..., 0], yiq_C[..., 0], atol=1e-4)
    style_L = deprocess(recorded["styles"][0])[..., 0]
    assert style_L.mean() == pytest.approx(yiq_C[..., 0].mean(), rel=1e-5)
    assert style_L.std() == pytest.approx(yiq_C[..., 0].std(), rel=1e-5)

    assert len(recorded["written"]) == summary.iterations + 1 == 5
    for written in recorded["written"]:
        unclipped = ((written > 0) & (written < 255)).all(axis=-1)
        assert unclipped.mean() > 0.9
        chroma = colour.rgb_to_yiq(written)[..., 1:] - yiq_C[..., 1:]
        assert np.abs(chroma[unclipped]).max() < 1e-3  # exact but for float32
    result = load_image(cfg.output)
    unclipped = ((result > 0) & (result < 255)).all(axis=-1)
    chroma = np.abs(colour.rgb_to_yiq(result)[..., 1:] - yiq_C[..., 1:])[unclipped]
    assert (chroma <= ROUNDING[1:] + 1e-9).all()
    assert np.abs(colour.luminance(result) - yiq_C[..., 0]).mean() > 5  # the luminance changed
    assert json.load(open(cfg.log))["config"]["preserve_colour"] == "luminance"


def test_histogram_matching_gives_the_style_the_contents_mean_and_covariance(
        small_vgg, tmp_path, pictures, tall_painting, recorded):
    cfg = config(small_vgg, tmp_path, pictures, styles=(str(tall_painting),),
                 preserve_colour="histogram", iterations=1)
    run_transfer(cfg, progress=False)
    content = load_image(pictures["photo"], 48)
    mu_C, Sigma_C = colour.pixel_statistics(content)
    mu_S, Sigma_S = colour.pixel_statistics(deprocess(recorded["styles"][0]))
    painting = colour.pixel_statistics(load_image(tall_painting))
    assert np.abs(painting[0] - mu_C).max() > 10 and np.abs(painting[1] - Sigma_C).max() > 100
    np.testing.assert_allclose(mu_S, mu_C, atol=1e-3)
    np.testing.assert_allclose(Sigma_S, Sigma_C, atol=1e-4 * 255**2)
    np.testing.assert_allclose(Sigma_S, Sigma_C, rtol=1e-5, atol=1e-2)
    assert recorded["content"].equal(preprocess(content))  # the photograph itself


@pytest.mark.parametrize("method, init", [("luminance", "content"), ("luminance", "style"),
                                          ("histogram", "style"), ("luminance", "file")])
def test_other_starts_are_the_images_the_network_sees(small_vgg, tmp_path, pictures, recorded,
                                                      method, init):
    start = str(pictures["painting"]) if init == "file" else init
    cfg = config(small_vgg, tmp_path, pictures, preserve_colour=method, init=start, iterations=1,
                 log=None)
    run_transfer(cfg, progress=False)
    photo, painting = load_image(pictures["photo"], 48), load_image(pictures["painting"])
    seen_content, seen_styles = colour.colour_method(method).inputs(photo, [painting])
    expected = {"content": seen_content, "style": seen_styles[0],
                "file": colour.to_luminance_image(painting)}[init]
    torch.testing.assert_close(recorded["x0"], preprocess(expected), rtol=0, atol=1e-4)
    if method == "luminance":
        assert_grey(deprocess(recorded["x0"]))


def test_an_interrupted_luminance_run_writes_the_contents_chroma(small_vgg, tmp_path, pictures,
                                                                  mid_photo, recorded,
                                                                  monkeypatch):
    calls, value_and_grad = [], Objective.value_and_grad

    def interrupted_at_the_sixth(self, x):
        calls.append(1)
        if len(calls) == 6:
            raise Interrupted(15)
        return value_and_grad(self, x)

    monkeypatch.setattr(Objective, "value_and_grad", interrupted_at_the_sixth)
    cfg = config(small_vgg, tmp_path, pictures, content=str(mid_photo), preserve_colour="luminance",
                 iterations=100)
    with pytest.raises(Interrupted):
        run_transfer(cfg, progress=False)
    assert json.load(open(cfg.log))["completed"] is False
    written, photo = recorded["written"][-1], load_image(mid_photo, 48)
    unclipped = ((written > 0) & (written < 255)).all(axis=-1)
    chroma = colour.rgb_to_yiq(written)[..., 1:] - colour.rgb_to_yiq(photo)[..., 1:]
    assert unclipped.mean() > 0.9 and np.abs(chroma[unclipped]).max() < 1e-3


# --- total variation ------------------------------------------------------------------------------

def small_images(shape=(14, 18), seed=0):
    rng = np.random.default_rng(seed)
    return [preprocess(rng.random((*shape, 3)) * 255).double() for _ in range(3)]


def test_tv_through_the_objective_adds_its_weight_times_tv(net64):
    content, style, x = small_images()
    plain = Objective(net64, content, [style], TransferConfig(content="c", styles=("s",)))
    with_tv = Objective(net64, content, [style], TransferConfig(content="c", styles=("s",),
                                                               tv_weight=0.25))
    L, L0 = with_tv.losses(x), plain.losses(x)
    assert float(L.tv) == float(total_variation(x)) > 0
    assert float(L.total) == float(L0.total + 0.25 * total_variation(x))
    assert float(L.content) == float(L0.content) and float(L.style) == float(L0.style)
    floats = L.numbers().as_dict()
    assert list(floats) == ["total", "content", "style", "tv", "E"]
    assert floats["tv"] == float(total_variation(x))


def test_tv_gradient_through_the_objective_matches_finite_differences(net64):
    content, style, x = small_images()
    cfg = TransferConfig(content="c", styles=("s",), ratio=1e-3, tv_weight=2000.0)
    objective = Objective(net64, content, [style], cfg)
    L = objective.losses(x)
    assert 0.1 < float(2000.0 * L.tv) / float(L.total) < 0.9  # both parts matter
    _, grad, _ = objective.value_and_grad(x)
    _, grad0, _ = Objective(net64, content, [style],
                            TransferConfig(content="c", styles=("s",))).value_and_grad(x)
    rng = np.random.default_rng(1)
    for _ in range(3):
        v = torch.from_numpy(rng.standard_normal(x.shape))
        eps = 1e-4
        with torch.no_grad():
            f_plus, f_minus = (objective.losses(x + s * eps * v).total for s in (1, -1))
        numeric = float(f_plus - f_minus) / (2 * eps)
        assert float((grad * v).sum()) == pytest.approx(numeric, rel=1e-6)
        assert abs(float(((grad - grad0) * v).sum())) > 1e-3 * abs(numeric)


def test_tv_is_logged_and_shown(small_vgg, tmp_path, pictures):
    cfg = config(small_vgg, tmp_path, pictures, tv_weight=10.0)
    summary = run_transfer(cfg, progress=False)
    log = json.load(open(cfg.log))
    assert log["config"]["tv_weight"] == 10.0 and log["config"]["style_scale"] == 1.0
    for entry in [*log["history"], log["losses"]]:
        assert entry["total"] == pytest.approx(summary.alpha * entry["content"] +
                                               summary.beta * entry["style"] +
                                               10.0 * entry["tv"], rel=1e-5)
    assert log["history"][-1]["tv"] < log["history"][0]["tv"]


# --- the paper's defaults unchanged ---------------------------------------------------------------

def papers_losses(net, content, style, x, config):
    """Eq. 7 written from reproduce.method.losses alone, with the paper's layers and w_l = 1/5."""
    P = feature_matrix(net.blobs(content, config.content_layers)[config.content_layers[0]])
    A = {l: gram(feature_matrix(b)) for l, b in net.blobs(style, config.style_layers).items()}
    F = net.blobs(x, (*config.content_layers, *config.style_layers))
    L_content = content_loss(feature_matrix(F[config.content_layers[0]]), P)
    E = {l: style_layer_loss(gram(feature_matrix(F[l])), A[l], *feature_matrix(F[l]).shape)
         for l in config.style_layers}
    L_style = style_loss(E, {l: 1 / 5 for l in config.style_layers})
    return LossTerms(total_loss(L_content, L_style, 1e-3 * 1e6, 1e6), L_content, L_style, E)


def test_with_every_new_knob_at_its_default_the_objective_is_the_papers(small_vgg, pictures):
    defaults = TransferConfig(content="c", styles=("s",))
    assert (defaults.preserve_colour, defaults.tv_weight, defaults.style_scale) == (None, 0, 1)
    net = load_network(small_vgg, pooling="avg")
    content = preprocess(load_image(pictures["photo"], 48))
    style = preprocess(load_image(pictures["painting"], 48))
    x = content + 20 * torch.from_numpy(np.random.default_rng(0).standard_normal(content.shape)
                                        .astype(np.float32))
    L = Objective(net, content, [style], defaults).losses(x)
    expected = papers_losses(net, content, style, x, defaults)
    assert L.tv is None  # no TV term
    assert L.numbers() == expected.numbers()  # literally the same numbers


def test_with_every_new_knob_at_its_default_a_synthesis_is_the_papers(small_vgg, tmp_path,
                                                                      pictures):
    """run_transfer at the defaults against the paper's path written out: both images resized
    once from the files, the objective from reproduce.method.losses, the same seeded start; the same
    image and losses to the last bit."""
    cfg = config(small_vgg, tmp_path, pictures, log=None)
    summary = run_transfer(cfg, progress=False)
    net = load_network(small_vgg, pooling="avg")
    content = load_image(pictures["photo"], 48)
    style = resize(load_image(pictures["painting"]), content.shape[:2])

    class Papers(Objective):
        def losses(self, x):
            return papers_losses(net, preprocess(content), preprocess(style), x, cfg)

    x0 = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 3, 32, 48))
                          .astype(np.float32))
    torch.manual_seed(0)
    result = synthesise(Papers(net, None, [], cfg), x0, iterations=cfg.iterations)
    save_image(tmp_path / "paper.png", deprocess(result.image))
    assert iio.imread(tmp_path / "paper.png").tobytes() == iio.imread(cfg.output).tobytes()
    assert result.losses == summary.losses


# --- bad values: one line naming the flag, exit 2 -------------------------------------------------

@pytest.mark.parametrize("given, message", [
    (dict(tv_weight=-1.0), "--tv-weight must be a finite number >= 0, not -1.0"),
    (dict(tv_weight=math.nan), "--tv-weight must be a finite number >= 0, not nan"),
    (dict(tv_weight=math.inf), "--tv-weight must be a finite number >= 0, not inf"),
    (dict(tv_weight="1"), "--tv-weight must be a finite number >= 0, not '1'"),
    (dict(style_scale=0.0), "--style-scale must be a finite number > 0, not 0.0"),
    (dict(style_scale=-2.0), "--style-scale must be a finite number > 0, not -2.0"),
    (dict(style_scale=math.inf), "--style-scale must be a finite number > 0, not inf"),
    (dict(style_scale=math.nan), "--style-scale must be a finite number > 0, not nan"),
    (dict(preserve_colour="lab"), "--preserve-colour must be one of histogram, luminance, not 'lab'"),
    (dict(preserve_colour=""), "--preserve-colour must be one of histogram, luminance, not ''"),
    (dict(content=None, preserve_colour="luminance"),
     "--preserve-colour luminance needs a content image (--content)"),
])
def test_bad_values_are_refused_by_the_config(given, message):
    with pytest.raises(ReproduceError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        TransferConfig(**{"content": "c.png", "styles": ("s.png",), **given})


@pytest.mark.parametrize("command", ["transfer", "loss"])
@pytest.mark.parametrize("argv, message", [
    (["--tv-weight", "-1"], "error: --tv-weight must be a finite number >= 0, not -1.0"),
    (["--tv-weight", "nan"], "error: --tv-weight must be a finite number >= 0, not nan"),
    (["--tv-weight", "inf"], "error: --tv-weight must be a finite number >= 0, not inf"),
    (["--style-scale", "0"], "error: --style-scale must be a finite number > 0, not 0.0"),
    (["--style-scale", "-1"], "error: --style-scale must be a finite number > 0, not -1.0"),
    (["--style-scale", "nan"], "error: --style-scale must be a finite number > 0, not nan"),
    (["--style-scale", "inf"], "error: --style-scale must be a finite number > 0, not inf"),
    (["--no-content", "--preserve-colour", "histogram"],
     "error: --preserve-colour histogram needs a content image (--content)"),
])
def test_bad_flags_are_one_line_exit_2_before_anything_loads(command, argv, message, tmp_path,
                                                           capsys, monkeypatch):
    monkeypatch.setattr(prepare, "load_network", None)  # never reached
    content = [] if "--no-content" in argv else ["--content", "c.png"]
    argv = [a for a in argv if a != "--no-content"]
    out = ["--output", str(tmp_path / "o.png")] if command == "transfer" else ["--image", "x.png"]
    code = run_main(cli.main, [command, *content, "--style", "s.png", *out, *argv])
    err = capsys.readouterr().err
    assert code == 2 and err == message + "\n"


@pytest.mark.parametrize("argv, message", [
    (["--preserve-colour", "lab"], "error: argument --preserve-colour: invalid choice: 'lab'"),
    (["--tv-weight", "a lot"], "error: argument --tv-weight: cannot read 'a lot'"),
    (["--style-scale", "x2"], "error: argument --style-scale: cannot read 'x2'"),
])
def test_unreadable_values_are_one_line_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["transfer", "--content", "c.png", "--output", "o.png", *argv])
    err = capsys.readouterr().err
    assert caught.value.code == 2 and err.startswith(message) and err.count("\n") == 1


def test_the_command_lines_take_the_knobs(small_vgg, tmp_path, pictures, capsys):
    common = ["--content", str(pictures["photo"]), "--style", str(pictures["painting"]),
              "--model", str(small_vgg), "--size", "48", "--device", "cpu",
              "--preserve-colour", "luminance", "--tv-weight", "10", "--style-scale", "0.5"]
    out, log = tmp_path / "cli.png", tmp_path / "cli.json"
    assert run_main(cli.main, ["transfer", *common, "--iterations", "2", "--output", str(out),
                               "--log", str(log)]) == 0
    assert ", tv " in capsys.readouterr().out
    record = json.load(open(log))["config"]
    assert (record["preserve_colour"], record["tv_weight"], record["style_scale"]) == \
        ("luminance", 10.0, 0.5)
    assert run_main(cli.main, ["loss", *common, "--image", str(out), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    cfg = TransferConfig(content=str(pictures["photo"]), styles=(str(pictures["painting"]),),
                         preserve_colour="luminance", tv_weight=10.0)
    net = load_network(small_vgg, pooling="avg")
    photo = load_image(pictures["photo"], 48)
    seen_content, seen_styles = colour.colour_method("luminance").inputs(
        photo, [resize(load_image(pictures["painting"]), (16, 24))])
    x = preprocess(colour.to_luminance_image(load_image(out)))
    expected = Objective(net, preprocess(seen_content), [preprocess(seen_styles[0])], cfg)
    expected = expected.values(x).as_dict()
    assert scored["E"] == pytest.approx(expected.pop("E")) and scored.pop("E")
    assert scored == pytest.approx(expected) and set(scored) == {"total", "content", "style", "tv"}
    for flag in ("--preserve-colour", "--tv-weight", "--style-scale"):
        for command in ("transfer", "loss"):
            with pytest.raises(SystemExit):
                cli.main([command, "--help"])
            assert flag in capsys.readouterr().out
