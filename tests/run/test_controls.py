"""The 2017 controls from the command line, grid files and the API (Gatys, Ecker, Bethge,
Hertzmann & Shechtman, CVPR 2017): regions with their masks, coarse to fine by area with each
stage started from the last one's result enlarged, and scale control's new style image."""
import functools
import json
import math

import imageio.v3 as iio
import numpy as np
import pytest
import torch
import torch.nn.functional as nnf

from reproduce import __main__ as cli
from reproduce.errors import run_main
from reproduce.image import deprocess, preprocess
from reproduce.method import colour
from reproduce.optim.synthesis import Synthesis, SynthesisInterrupted, synthesise
from reproduce.run import prepare, transfer
from reproduce.run.config import TransferConfig
from reproduce.run.grid import load_grid
from reproduce.run.prepare import read_mask
from reproduce.run.transfer import TransferInterrupted, run_transfer, stage_configs
from tests.helpers import small_transfer

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def masks(tmp_path_factory):
    """Left and right halves of the 32×48 photograph, as greyscale PNGs (white inside)."""
    folder = tmp_path_factory.mktemp("masks")
    left = np.zeros((32, 48), np.uint8)
    left[:, :24] = 255
    iio.imwrite(folder / "left.png", left)
    iio.imwrite(folder / "right.png", 255 - left)
    return folder


config = functools.partial(small_transfer, iterations=3)


@pytest.fixture
def starts(monkeypatch):
    """The start x0 and the objective of every synthesis run_transfer runs, in order."""
    seen = []

    def recording(objective, x0, **kwargs):
        seen.append((objective, x0.clone()))
        return synthesise(objective, x0, **kwargs)

    monkeypatch.setattr(transfer, "synthesise", recording)
    monkeypatch.setattr(prepare, "synthesise", recording)  # scale control's new style image
    return seen


# --- regions -------------------------------------------------------------------------------

def test_a_mask_is_channel_0_resized_with_its_image(tmp_path, masks):
    config_ = TransferConfig()
    mask = read_mask(str(masks / "left.png"), (16, 24), config_)
    assert mask.shape == (16, 24) and mask.min() >= 0 and mask.max() <= 1
    assert mask[:, :10].min() > 0.99 and mask[:, 14:].max() < 0.01


def test_regions_from_the_command_line(small_vgg, tmp_path, pictures, masks, capsys):
    photo, painting = pictures["photo"], pictures["painting"]
    log = tmp_path / "log.json"
    code = run_main(cli.main, [
        "transfer", "--content", str(photo), "--model", str(small_vgg), "--size", "48",
        "--iterations", "3", "--output", str(tmp_path / "out.png"), "--log", str(log),
        "--region", f"left:{masks / 'left.png'}:{painting}",
        "--region", f"right:{masks / 'right.png'}:{photo}:{masks / 'right.png'}",
        "--guide-mode", "simple", "--guide-grow", "1"])
    assert code == 0, capsys.readouterr().err
    record = json.loads(log.read_text())
    assert record["config"]["regions"] == [f"left:{masks / 'left.png'}:{painting}",
                                           f"right:{masks / 'right.png'}:{photo}:{masks / 'right.png'}"]
    assert (record["config"]["guide_mode"], record["config"]["guide_grow"]) == ("simple", 1)
    assert (tmp_path / "out.png").is_file()
    capsys.readouterr()
    score = run_main(cli.main, ["loss", "--content", str(photo), "--model", str(small_vgg),
                                "--size", "48", "--image", str(tmp_path / "out.png"), "--json",
                                "--region", f"left:{masks / 'left.png'}:{painting}"])
    assert score == 0 and json.loads(capsys.readouterr().out)["style"] > 0


def test_a_missing_mask_stops_before_the_network_loads(small_vgg, tmp_path, pictures, capsys,
                                                       monkeypatch):
    monkeypatch.setattr(transfer, "load_network", None)  # never reached
    code = run_main(cli.main, ["transfer", "--content", str(pictures["photo"]), "--model",
                               str(small_vgg), "--output", str(tmp_path / "o.png"), "--region",
                               f"sky:{tmp_path / 'none.png'}:{pictures['painting']}"])
    assert code == 2
    assert capsys.readouterr().err == f"error: --region {tmp_path / 'none.png'}: no such image\n"


def test_regions_in_a_grid_file(tmp_path, pictures, masks):
    grid = tmp_path / "halves.toml"
    left = f"left:{masks / 'left.png'}:{pictures['painting']}"
    right = f"right:{masks / 'right.png'}:{pictures['photo']}"
    grid.write_text(f'[base]\ncontent = "{pictures["photo"]}"\nregions = ["{left}", "{right}"]\n'
                    '[axes]\nguide_mode = ["simple", "inside"]\n')
    panels = load_grid(grid).panels
    assert [p.overrides["guide_mode"] for p in panels] == ["simple", "inside"]
    assert panels[0].overrides["regions"][0] == f"left:{masks / 'left.png'}:{pictures['painting']}"
    from reproduce.figures.grid_figure import grid_job
    job = grid_job(*panels[0])
    assert set(job.inputs) == {str(pictures["photo"]), str(pictures["painting"]),
                               str(masks / "left.png"), str(masks / "right.png")}


# --- coarse to fine ------------------------------------------------------------------------------

def test_stage_sizes_follow_the_area_rule(small_vgg, tmp_path, pictures):
    """The 32×48 photograph at S² pixels: long side round(48 · S / √(32·48)), at most its own."""
    c = config(small_vgg, tmp_path, pictures, pyramid=(16, 24, 64), pyramid_iterations=(5, 2, 1))
    stages = stage_configs(c)
    assert [(s.size, s.iterations) for s in stages] == [
        (round(48 * 16 / math.sqrt(32 * 48)), 5), (round(48 * 24 / math.sqrt(32 * 48)), 2),
        (48, 1)]
    assert [(s.size, s.iterations) for s in stages] == [(20, 5), (29, 2), (48, 1)]
    assert all(not s.pyramid for s in stages)


def test_each_stage_starts_from_the_last_result_enlarged(small_vgg, tmp_path, pictures, starts):
    c = config(small_vgg, tmp_path, pictures, pyramid=(16, 30), pyramid_iterations=(4, 2))
    summary = run_transfer(c, progress=False)
    (first, x1), (second, x2) = starts
    # 16² and 30² pixels: long sides round(48 · S / √(32·48)) = 20 and 37, the aspect kept
    assert x1.shape[2:] == (13, 20) and x2.shape[2:] == (25, 37)
    log = json.loads((tmp_path / "log.json").read_text())
    assert [s["shape"] for s in log["stages"]] == [[13, 20], [25, 37]]
    assert [s["iterations"] for s in log["stages"]] == [4, 2]
    assert log["iterations"] == summary.iterations == 6 and log["completed"] is True
    assert [h["stage"] for h in log["history"]] == [1, 1, 1, 1, 2, 2]
    assert [h["iteration"] for h in log["history"]] == [1, 2, 3, 4, 5, 6]
    # the targets are the larger size's: the content features of the second stage's objective
    assert second.P["conv4_2"].shape[1] == math.ceil(25 / 8) * math.ceil(37 / 8)
    assert first.P["conv4_2"].shape[1] == math.ceil(13 / 8) * math.ceil(20 / 8)


def test_the_second_start_is_the_first_result_upsampled(small_vgg, tmp_path, pictures,
                                                        monkeypatch):
    results = []
    seen = []

    def recording(objective, x0, **kwargs):
        seen.append(x0.clone())
        result = synthesise(objective, x0, **kwargs)
        results.append(result)
        return result

    monkeypatch.setattr(transfer, "synthesise", recording)
    run_transfer(config(small_vgg, tmp_path, pictures, pyramid=(16, 30),
                        pyramid_iterations=(3, 1)), progress=False)
    rgb = torch.from_numpy(np.clip(deprocess(results[0].image), 0, 255)).permute(2, 0, 1)[None]
    enlarged = nnf.interpolate(rgb.double(), size=(25, 37), mode="bilinear", align_corners=False)
    expected = preprocess(enlarged[0].permute(1, 2, 0).clamp(0, 255).numpy())
    # float32 against float64 interpolation: 1e-3 of the 0..255 range
    torch.testing.assert_close(seen[1].double(), expected.double(), rtol=0, atol=1e-3)


def test_an_interrupt_saves_the_stage_it_was_in(small_vgg, tmp_path, pictures, monkeypatch):
    calls = []

    def interrupted_in_stage_two(objective, x0, **kwargs):
        calls.append(x0)
        if len(calls) == 2:
            partial = Synthesis(x0, objective.values(x0), 0, "interrupted", False, 0)
            raise SynthesisInterrupted(15, partial)
        return synthesise(objective, x0, **kwargs)

    monkeypatch.setattr(transfer, "synthesise", interrupted_in_stage_two)
    with pytest.raises(TransferInterrupted) as caught:
        run_transfer(config(small_vgg, tmp_path, pictures, pyramid=(16, 30),
                            pyramid_iterations=(3, 2)), progress=False)
    summary = caught.value.summary
    assert summary.stop == "interrupted in stage 2 of 2" and summary.completed is False
    log = json.loads((tmp_path / "log.json").read_text())
    assert [s["stage"] for s in log["stages"]] == [1, 2] and log["completed"] is False
    assert iio.imread(tmp_path / "out.png").shape[:2] == (25, 37)


# --- scale control ---------------------------------------------------------------------------

def test_scale_control_writes_and_records_its_new_style_image(small_vgg, tmp_path, pictures,
                                                              starts):
    fine = tmp_path / "fine.png"
    rng = np.random.default_rng(0)
    iio.imwrite(fine, rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))
    c = config(small_vgg, tmp_path, pictures, fine_style=str(fine), fine_iterations=4,
               fine_layers=("conv1_1", "conv2_1"))
    run_transfer(c, progress=False)
    new_style = tmp_path / "out_style.png"
    assert iio.imread(new_style).shape == (32, 48, 3)  # the coarse painting's shape (--style-size content)
    log = json.loads((tmp_path / "log.json").read_text())
    from reproduce.files import file_digest
    assert log["new_style"]["file"] == str(new_style)
    assert log["new_style"]["sha256"] == file_digest(new_style)
    assert log["new_style"]["iterations"] == 4
    (making, x0), (transferring, _) = starts
    # the new style image starts from the coarse painting colour-matched to the photograph, and
    # matches the fine one's Gram matrices on the fine layers alone
    assert making.style_layers == ("conv1_1", "conv2_1") and making.content_layers == ()
    painting = iio.imread(pictures["painting"]).astype(np.float64)
    photo = iio.imread(pictures["photo"]).astype(np.float64)
    matched = np.clip(colour.match_colour_histogram(painting, photo), 0, 255)
    np.testing.assert_allclose(deprocess(x0), matched, atol=1e-3)
    # the transfer takes the new style image as its painting
    assert transferring.style_layers == c.style_layers
