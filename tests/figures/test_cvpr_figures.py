"""The CVPR paper's figures 4–7 (Gatys, Ecker & Bethge, CVPR 2016): their tables hold the paper's
values, `all --paper cvpr` renders every result figure in the paper's numbering with a
convergence plot beside each, the images the repository cannot hold come from --data (their
panels skipped and drawn grey without it), and Fig. 6 starts where its table says."""
import json
import pathlib

import imageio.v3 as iio
import numpy as np
import pytest

import reproduce.run.transfer as transfer
from reproduce.errors import ReproduceError
from reproduce.figures import PAPER_FIGURES, PRESETS, figure, make_figures
from reproduce.figures import plan as plan_module
from reproduce.figures.layout import Tile, cropped, draw
from reproduce.figures.tables import Preset, caption
from reproduce.image.files import load_image, resize
from tests.figures.test_figures import TINY, make, named
from tests.helpers import ROOT

STYLE = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
MEAN_BGR = np.array([103.939, 116.779, 123.68])  # the VGG-19 mean the paper's network takes off
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def configs(small_vgg, data_dir, tmp_path_factory):
    """{figure: [TransferConfig of each panel]} of the CVPR figures at the full preset."""
    run = plan_module.make_run(tmp_path_factory.mktemp("plan"), "cvpr", PRESETS["full"],
                               small_vgg, plan_module.find_inputs(
                                   plan_module.INPUTS, [data_dir]))
    return {name: [p.config for p in plan_module.plan(figure(name, "cvpr"), run)]
            for name in PAPER_FIGURES["cvpr"]}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, small_vgg, data_dir):
    """results/ of `all --paper cvpr`, rendered tiny on the small network with the stand-ins."""
    out = tmp_path_factory.mktemp("results")
    assert make("all", "--paper", "cvpr", "--model", small_vgg, "--out", out, "--data", data_dir,
                *TINY) == 0
    return out


def manifest(out, name):
    return json.loads((out / "cvpr" / f"{name}.json").read_text())


# --- the tables --------------------------------------------------------------------------------

def test_the_cvpr_paper_numbers_its_result_figures_as_it_does():
    assert PAPER_FIGURES == {"arxiv": ("fig1", "fig2", "fig3"),
                             "cvpr": ("fig1", "fig3", "fig4", "fig5", "fig6", "fig7"),
                             "2017": ("fig2", "fig4", "fig5")}
    with pytest.raises(ReproduceError, match="diagram of the method"):
        figure("fig2", "cvpr")
    with pytest.raises(ReproduceError, match="fig1, fig2, fig3"):
        figure("fig4", "arxiv")


def test_fig4_four_ratios_growing_from_top_left_to_bottom_right(configs):
    panels = configs["fig4"]
    assert [c.ratio for c in panels] == [1e-4, 1e-3, 1e-2, 1e-1]
    assert {(named(c), c.content_layers, c.style_layers, c.init, c.style_size) for c in panels} \
        == {(("tubingen.jpg", ("composition_vii.jpg",)), ("conv4_2",), STYLE, "noise", "content")}
    assert [[cell.title for cell in row] for row in figure("fig4", "cvpr").rows] == \
        [["$\\alpha/\\beta = 10^{-4}$", "$\\alpha/\\beta = 10^{-3}$"],
         ["$\\alpha/\\beta = 10^{-2}$", "$\\alpha/\\beta = 10^{-1}$"]]


def test_fig5_content_at_conv2_2_and_conv4_2_each_whole_with_a_box_and_enlarged(configs):
    panels = configs["fig5"]
    assert [c.content_layers for c in panels] == [("conv2_2",), ("conv4_2",)]
    assert {(named(c), c.ratio, c.style_layers, c.init) for c in panels} == \
        {(("cottage.jpg", ("jesuiten_iii.jpg",)), 1e-3, STYLE, "noise")}
    table = figure("fig5", "cvpr")
    assert table.row_labels == ("photograph", "conv2_2", "conv4_2")
    assert [(cell.item if isinstance(cell.item, str) else cell.item.name, cell.inset)
            for cell in table.cells] == [("cottage", "jesuiten"), ("cottage", None),
                                         ("cottage_conv2_2", None), ("cottage_conv2_2", None),
                                         ("cottage_conv4_2", None),
                                         ("cottage_conv4_2", None)]
    boxes = {(cell.box, cell.crop) for cell in table.cells}
    (box,) = {b for pair in boxes for b in pair if b is not None}
    assert boxes == {(box, None), (None, box)}  # left: the box drawn; right: that box enlarged
    assert all(0 <= v <= 1 for v in box) and box[0] < box[2] and box[1] < box[3]


def test_fig5s_box_is_part_of_the_table(monkeypatch):
    from reproduce.figures import paper2015
    monkeypatch.setattr(paper2015, "FIG5_BOX", (0.0, 0.0, 0.5, 0.5))
    assert {cell.box or cell.crop for cell in figure("fig5", "cvpr").cells} == {(0, 0, 0.5, 0.5)}


def test_fig6_starts_from_content_style_and_four_noises(configs):
    panels = configs["fig6"]
    assert [c.init for c in panels] == ["content", "style", "noise", "noise", "noise", "noise"]
    assert len({c.seed for c in panels[2:]}) == 4
    assert {(named(c), c.ratio, c.content_layers, c.style_layers) for c in panels} == \
        {(("tubingen.jpg", ("starry_night.jpg",)), 1e-3, ("conv4_2",), STYLE)}
    assert [[cell.letter for cell in row] for row in figure("fig6", "cvpr").rows] == \
        [["A", "B"], ["C", ""], ["", ""]]


def test_fig7_london_by_day_as_new_york_by_night_from_the_content(configs):
    (panel,) = configs["fig7"]
    assert (named(panel), panel.init, panel.ratio, panel.content_layers, panel.style_layers) == \
        (("london_day.jpg", ("new_york_night.jpg",)), "content", 1e-2, ("conv4_2",), STYLE)
    table = figure("fig7", "cvpr")
    assert [[cell.title for cell in row] for row in table.rows] == \
        [["style", "content"], ["result"]]


def test_captions_name_the_files_given_with_data(data_dir):
    given = plan_module.find_inputs(figure("fig5", "cvpr").inputs, [data_dir])
    text = caption(figure("fig5", "cvpr"), PRESETS["quick"], given)
    assert "Figure 5 (CVPR values)" in text and "α/β = 10⁻³" in text
    assert "Images given with --data: a photograph of a stone cottage: cottage.jpg; Jesuiten III "\
           "by Lyonel Feininger: jesuiten_iii.jpg." in text
    assert "--data" not in caption(figure("fig4", "cvpr"), PRESETS["quick"], given)


# --- the layout --------------------------------------------------------------------------------

def test_a_crop_shows_only_its_box_and_a_row_of_one_is_wide():
    image = np.arange(100 * 200 * 3, dtype=np.float32).reshape(100, 200, 3) % 256
    assert np.array_equal(cropped(image, (0.5, 0.25, 1.0, 0.75)), image[25:75, 100:200])
    assert cropped(image, (1.0, 1.0, 1.0, 1.0)).shape == (1, 1, 3)  # at least a pixel
    drawn = draw([[Tile(image, title="style"), Tile(image, title="content")],
                  [Tile(image, "C", title="result", box=(0.1, 0.1, 0.2, 0.2))]])
    top, bottom = (axes.get_position() for axes in drawn.axes[::2])
    assert bottom.width == pytest.approx(2 * top.width, rel=0.05)
    assert [axes.get_title() for axes in drawn.axes] == ["style", "content", "result"]
    assert len(drawn.axes[2].patches) == 1  # the box


# --- rendering -----------------------------------------------------------------------------------

def test_all_cvpr_renders_every_figure_with_its_convergence_plot(rendered):
    for name in ("fig1", "fig3", "fig4", "fig5", "fig6", "fig7"):
        m = manifest(rendered, name)
        assert set(m["files"]) == {"png", "pdf", "losses_png", "losses_pdf"}
        assert {e["status"] for e in m["panels"]} == {"computed"}
        for kind in ("png", "losses_png"):
            assert iio.imread(m["files"][kind]["file"]).ndim == 3
        for entry in m["panels"]:
            assert "history" not in entry  # the record keeps it
            history = json.loads(pathlib.Path(entry["file"]).with_suffix(".json").read_text())[
                "history"]
            assert history["iteration"] == [1, 2, 3]
            assert all(np.isfinite(history["total"]))
    assert not (rendered / "cvpr" / "fig2.png").exists()
    assert "Images given with --data" in manifest(rendered, "fig7")["caption"]


def test_without_data_the_panels_that_need_it_are_skipped_and_the_rest_render(
        rendered, tmp_path, small_vgg):
    lines = []
    manifests = make_figures(["fig4", "fig5", "fig7"], "cvpr", Preset("quick", 32, 3), tmp_path,
                             small_vgg, log=lines.append)
    statuses = {m["figure"]: [e["status"] for e in m["panels"]] for m in manifests}
    assert statuses == dict(fig4=["computed"] * 4, fig5=["skipped"] * 2, fig7=["skipped"])
    skipped = [line for line in lines if "skipped" in line]
    assert len(skipped) == 3 and all("--data DIR" in line for line in skipped)
    for name in ("fig5", "fig7"):
        assert (tmp_path / "cvpr" / f"{name}.png").is_file()
        assert (tmp_path / "cvpr" / f"{name}_losses.png").is_file()
    grey = iio.imread(tmp_path / "cvpr" / "fig7.png")[..., :3]
    assert (np.abs(grey.astype(int) - 204) <= 1).all(axis=-1).mean() > 0.2  # drawn grey


def test_fig6s_first_iterates_are_the_content_the_resized_style_and_four_noises(
        tmp_path, small_vgg, monkeypatch):
    """What the optimiser starts from, against the images read and preprocessed here."""
    firsts = []  # in the table's order: the panels run one after another in this process
    synthesise = transfer.synthesise

    def recording(objective, x0, **kwargs):
        firsts.append(x0.detach().cpu().numpy()[0])
        return synthesise(objective, x0, **kwargs)

    monkeypatch.setattr(transfer, "synthesise", recording)
    assert make("fig6", "--paper", "cvpr", "--model", small_vgg, "--out", tmp_path, *TINY) == 0
    content = load_image(ROOT / "data" / "inputs" / "tubingen.jpg", 32)
    style = resize(load_image(ROOT / "data" / "inputs" / "starry_night.jpg"), content.shape[:2])

    def seen(rgb):  # Caffe's input: BGR, the mean taken off, channels first
        return (rgb[..., ::-1] - MEAN_BGR).transpose(2, 0, 1)

    assert len(firsts) == 6
    np.testing.assert_allclose(firsts[0], seen(content), atol=1e-4)
    np.testing.assert_allclose(firsts[1], seen(style), atol=1e-4)
    noises = firsts[2:]
    assert all(abs(n.std() - 1) < 0.1 for n in noises)  # white noise in the network's space
    assert all(not np.allclose(a, b) for i, a in enumerate(noises) for b in noises[i + 1:])
