"""The loss study (`make_figures.py textures`): a texture per style loss and pooling from the
same noise, of The Starry Night's centre square, measured against that source; the figure, its
table (CSV and Markdown) and manifest, and the study's sizes."""
import csv
import json

import imageio.v3 as iio
import numpy as np
import pytest

from reproduce.figures import PRESETS, figure
from reproduce.figures import plan as plan_module
from reproduce.figures.tables import Preset, caption
from reproduce.run.prepare import prepare_images
from tests.figures.test_figures import TINY, make
from tests.helpers import ROOT

LOSSES = ["gram", "mmd-linear", "mmd-poly", "mmd-gaussian", "stats", "sliced-wasserstein"]
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def study(tmp_path_factory, small_vgg):
    """results/ of the quick study at 32 px, 3 iterations, on the small network."""
    out = tmp_path_factory.mktemp("results")
    assert make("textures", "--model", small_vgg, "--out", out, *TINY) == 0
    return out / "arxiv"


def configs(preset, small_vgg, tmp_path):
    table = figure("textures", "arxiv")
    run = plan_module.make_run(tmp_path, "arxiv", preset, small_vgg,
                               plan_module.find_inputs(table.inputs))
    return [p.config for p in plan_module.plan(table, run)]


def test_the_table_is_two_poolings_by_every_loss_from_the_same_noise(small_vgg, tmp_path):
    panels = configs(PRESETS["full"], small_vgg, tmp_path)
    assert [(c.pooling, c.style_loss) for c in panels] == \
        [(p, loss) for p in ("avg", "max") for loss in LOSSES]
    # style only, The Starry Night's centre square, conv1_1 … conv5_1 at w_l = 1/5, one seed
    assert {(c.content, c.styles[0].rsplit("/", 1)[1], c.style_crop, c.style_layers,
             c.style_weights, c.init, c.seed, c.iterations) for c in panels} == \
        {(None, "starry_night.jpg", "square",
          ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"), None, "noise", 0, 2000)}
    assert {c.size for c in panels} == {256}  # the texture paper's size at the full setting
    assert {c.size for c in configs(PRESETS["quick"], small_vgg, tmp_path)} == {128}
    assert {c.size for c in configs(Preset("quick", 32, 3), small_vgg, tmp_path)} == {32}
    text = caption(figure("textures", "arxiv"), PRESETS["full"])
    assert text.endswith("Full setting: 256 px, 2000 L-BFGS-B iterations.")


def test_the_source_is_the_paintings_centre_square(small_vgg, tmp_path):
    config = configs(PRESETS["quick"], small_vgg, tmp_path)[0]
    _, (source,), shape = prepare_images(config)
    assert shape == (128, 128) and source.shape == (128, 128, 3)
    painting = iio.imread(ROOT / "data" / "inputs" / "starry_night.jpg")  # 640 × 1024
    side = min(painting.shape[:2])
    left = (painting.shape[1] - side) // 2
    square = painting[:, left:left + side].astype(np.float64)
    # the square shrunk to 128 px: block means of 5 × 5 pixels, as a box filter would give them
    blocks = square.reshape(128, 5, 128, 5, 3).mean(axis=(1, 3))
    assert np.abs(source - blocks).mean() < 6  # the crop's place, not another part of it
    offset = painting[:, :side].astype(np.float64).reshape(128, 5, 128, 5, 3).mean(axis=(1, 3))
    assert np.abs(source - offset).mean() > 20


def test_the_quick_study_writes_figure_table_and_manifest(study):
    manifest = json.loads((study / "textures.json").read_text())
    assert set(manifest["files"]) == {"png", "pdf", "losses_png", "losses_pdf", "table"}
    assert [(e["parameters"]["pooling"], e["parameters"]["style_loss"], e["status"])
            for e in manifest["panels"]] == \
        [(p, loss, "computed") for p in ("avg", "max") for loss in LOSSES]
    with open(study / "textures_table.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["pooling"], r["optimised"]) for r in rows] == \
        [(p, loss) for p in ("avg", "max") for loss in LOSSES]
    assert list(rows[0])[2:] == [*LOSSES, "vgg_loss", "sliced_wasserstein", "mean_error",
                                 "std_error", "iterations", "evaluations", "seconds"]
    for row, entry in zip(rows, manifest["panels"]):
        assert all(np.isfinite(float(row[k])) for k in LOSSES)
        assert float(row["vgg_loss"]) > 0 and float(row["sliced_wasserstein"]) > 0
        assert int(row["iterations"]) == 3 and int(row["evaluations"]) >= 3
        # the loss it optimised, on the image as written: the run's own value, to 8-bit rounding
        optimised = float(row[row["optimised"]])
        assert optimised == pytest.approx(entry["losses"]["style"], rel=0.05, abs=1e-6)
    lines = manifest["table"].splitlines()
    assert lines[0].startswith("| pooling | optimised | gram | mmd-linear") and len(lines) == 14
    png = iio.imread(study / "textures.png")
    assert png.ndim == 3 and png.shape[1] == 1380
    assert (study / "textures_losses.png").is_file()


def test_the_study_is_reused_and_not_part_of_all(study, small_vgg, capsys):
    from reproduce.figures import PAPER_FIGURES
    assert all("textures" not in names for names in PAPER_FIGURES.values())
    before = (study / "textures_table.csv").read_text()
    assert make("textures", "--model", small_vgg, "--out", study.parent, *TINY) == 0
    assert capsys.readouterr().out.count("reused") == 12
    assert (study / "textures_table.csv").read_text() == before  # the same numbers again
