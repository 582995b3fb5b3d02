"""The figure tables hold the paper's values; the pipeline renders every panel, figure and
manifest on the small VGG-shaped network, reuses what is done, and stops cleanly on bad input."""
import argparse
import json
import re
import shutil
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from helpers import ROOT, load_script

import reproduce.figures as figures
from reproduce.errors import run_main
from reproduce.figures import FIGURES, PRESETS, STYLE_LAYERS, caption, worker_devices
from reproduce.files import file_digest
from reproduce.montage import Cell, assemble, draw_cell, glyph, text_mask

REFERENCE = ROOT / "data" / "reference" / "neural-style-fig2"
TINY = ["--quick", "--size", "32", "--iterations", "3"]
PANELS = {"fig1": 10, "fig2": 5, "fig3": 20}
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A --data folder with a stand-in for Femme nue assise (not in the repository)."""
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    iio.imwrite(folder / "seated-nude.jpg", rng.integers(0, 256, (52, 40, 3), dtype=np.uint8))
    return folder


def make(*argv):
    """Exit status of scripts/make_figures.py with these arguments."""
    return run_main(load_script("make_figures").main, [str(a) for a in argv])


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, small_vgg, data_dir):
    """results/ of all three arXiv figures, rendered tiny on the small network."""
    out = tmp_path_factory.mktemp("results")
    assert make("all", "--model", small_vgg, "--out", out, "--data", data_dir, *TINY) == 0
    return out


def manifest(out, figure, paper="arxiv"):
    return json.loads((out / paper / f"{figure}.json").read_text())


def jobs(figure, paper):
    return FIGURES[figure](paper).jobs


# --- the tables ------------------------------------------------------------------------------

@pytest.mark.parametrize("paper, content_layers", [
    ("arxiv", ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]),
    ("cvpr", ["conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2"]),
])
def test_fig1_style_from_growing_layer_sets_content_from_one_layer(paper, content_layers):
    style, content = jobs("fig1", paper)[:5], jobs("fig1", paper)[5:]
    assert [j.style_layers for j in style] == [STYLE_LAYERS[:n] for n in range(1, 6)]
    assert all(j.styles == ("starry",) and j.content is None for j in style)
    assert [j.content_layers for j in content] == [(layer,) for layer in content_layers]
    assert all(j.content == "tubingen" and j.styles == () for j in content)


@pytest.mark.parametrize("paper, ratios", [
    ("arxiv", {"shipwreck": 1e-3, "starry": 1e-3, "scream": 1e-3, "seated_nude": 1e-4,
               "composition_vii": 1e-4}),
    ("cvpr", {"shipwreck": 1e-3, "starry": 8e-4, "scream": 5e-3, "seated_nude": 5e-4,
              "composition_vii": 5e-4}),
])
def test_fig2_ratios_of_each_version(paper, ratios):
    assert {j.styles[0]: j.ratio for j in jobs("fig2", paper)} == ratios
    assert all(j.content == "tubingen" and j.style_layers == STYLE_LAYERS
               for j in jobs("fig2", paper))
    figure = FIGURES["fig2"](paper)
    letters = [[letter for _, letter, _ in row] for row in figure.rows]
    assert letters == [["A", "B"], ["C", "D"], ["E", "F"]]
    assert [inset for _, _, inset in figure.cells] == [None, *ratios]  # the painting, B-F


def test_fig3_five_layer_sets_by_four_ratios():
    grid = [[(j.style_layers, j.ratio) for j in row] for row in
            [[item for item, _, _ in row] for row in FIGURES["fig3"]("arxiv").rows]]
    assert grid == [[(STYLE_LAYERS[:n], r) for r in (1e-5, 1e-4, 1e-3, 1e-2)] for n in range(1, 6)]
    assert all(j.styles == ("composition_vii",) and j.content == "tubingen"
               for j in jobs("fig3", "arxiv"))


@pytest.mark.parametrize("paper", ["arxiv", "cvpr"])
def test_every_panel_uses_the_papers_common_setting(paper):
    all_jobs = [j for name in FIGURES for j in jobs(name, paper)]
    assert len(all_jobs) == sum(PANELS.values())
    assert {(j.pooling, j.init, j.seed) for j in all_jobs} == {("avg", "noise", 0)}
    assert {j.content_layers for j in all_jobs if j.content and j.styles} == {("conv4_2",)}
    assert len({j.name for j in all_jobs}) == len(all_jobs)


def test_fig2_panels_carry_the_reference_names():
    names = {f"{j.name}.png" for j in jobs("fig2", "arxiv")}
    # the Picasso-derived rendering is not shipped, like the painting itself
    assert names - {p.name for p in REFERENCE.iterdir()} == {"tubingen_seated_nude.png"}


def test_presets_and_captions():
    assert (PRESETS["full"].size, PRESETS["full"].iterations) == (512, 2000)
    assert (PRESETS["quick"].size, PRESETS["quick"].iterations) == (128, 40)
    figure = FIGURES["fig2"]("cvpr")
    assert "paper setting: 512 px, 2000" in caption(figure, PRESETS["full"])
    quick = caption(figure, PRESETS["quick"])
    assert "quick preset: 128 px, 40" in quick and "not the paper's setting" in quick
    assert "0.001, 0.0008, 0.005, 0.0005, 0.0005" in quick
    args = argparse.Namespace(quick=True, size=32, iterations=None)
    preset = load_script("make_figures").preset_from(args)
    assert (preset.name, preset.size, preset.iterations) == ("quick", 32, 40)


# --- the montage -----------------------------------------------------------------------------

def test_glyphs_and_text():
    assert glyph("A").astype(int).tolist() == [[0, 1, 0], [1, 0, 1], [1, 1, 1], [1, 0, 1],
                                               [1, 0, 1]]
    assert glyph("Q").tolist() == glyph("q").tolist()  # capitals beyond A-F use the small letter
    assert text_mask("ab", 2).shape == (10, 18)
    with pytest.raises(ValueError, match="no glyph"):
        glyph("§")


def test_cell_letter_inset_and_left_out_panel():
    image = np.full((48, 64, 3), 100.0, np.float32)
    inset = np.zeros((20, 40, 3), np.float32)
    inset[..., 0] = 255.0
    cell = draw_cell(Cell(image, "B", inset), (48, 64), 1)
    assert cell[:7, :7].min() == 0 and cell[:7, :7].max() == 255  # black letter on white
    assert np.allclose(cell[-8:, :16], [255, 0, 0], atol=0.01)  # the inset: a quarter of 64 px
    assert (cell[20:30, 30:] == 100).all()
    grey = draw_cell(Cell(None, "E"), (48, 64), 1)
    assert (grey[20:, :] == 200).all()


def test_grid_geometry():
    cells = [[Cell(np.zeros((20, 30, 3), np.float32))] * 2] * 3
    assert assemble(cells, gap=4).shape == (3 * 20 + 2 * 4, 2 * 30 + 4, 3)
    labelled = assemble(cells, row_labels=("a", "b", "c"), col_labels=("x", "y"), gap=4)
    assert labelled.shape == (7 + 4 + 68, 7 + 4 + 64, 3)  # one text line is 7 px at scale 1
    captioned = assemble(cells, caption="one\ntwo", gap=4)
    assert captioned.shape[0] == 68 + 4 + 2 * 7


# --- the pipeline ----------------------------------------------------------------------------

def test_every_panel_figure_and_manifest_is_written(rendered):
    for figure, count in PANELS.items():
        assert len(list((rendered / "arxiv" / figure).glob("*.png"))) == count
        assert iio.imread(rendered / "arxiv" / f"{figure}.png").ndim == 3
        entries = manifest(rendered, figure)["panels"]
        assert [e["status"] for e in entries] == ["computed"] * count
        assert [e["name"] for e in entries] == [j.name for j in jobs(figure, "arxiv")]


def test_manifest_holds_parameters_model_and_results(rendered, small_vgg):
    m = manifest(rendered, "fig2")
    assert m["model_sha256"] == file_digest(small_vgg)
    assert m["preset"] == dict(name="quick", size=32, iterations=3)
    assert "quick preset" in m["caption"]
    for entry in m["panels"]:
        p = entry["parameters"]
        assert (p["size"], p["iterations"], p["seed"], p["style_size"], p["optimiser"]) == \
            (32, 3, 0, "keep", "scipy")
        assert entry["iterations"] == 3 and entry["seconds"] > 0
        assert np.isfinite(entry["losses"]["total"])
        assert set(entry["losses"]["E"]) == set(STYLE_LAYERS)
        assert entry["image_sha256"] == file_digest(entry["file"])
        assert max(iio.imread(entry["file"]).shape[:2]) == 32
    shipwreck = m["panels"][0]
    assert shipwreck["alpha"] == pytest.approx(1e-3 * shipwreck["beta"])


def test_diff_report_of_the_rendered_fig2(rendered, small_vgg, tmp_path):
    argv = [rendered / "arxiv" / "fig2", REFERENCE, "--out", tmp_path, "--model", small_vgg]
    assert run_main(load_script("diff_figures").main, [str(a) for a in argv]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    shipped = sorted(p.stem for p in REFERENCE.iterdir())
    assert sorted(report["pairs"]) == shipped and len(shipped) == 4
    assert all(pair["size"] == [24, 32] and pair["style"] > 0 for pair in report["pairs"].values())
    assert (tmp_path / "report.md").read_text().count("![tubingen_") == 4


def test_rerun_reuses_panels_and_force_renders_again(rendered, tmp_path, small_vgg, data_dir,
                                                     monkeypatch, capsys):
    out = shutil.copytree(rendered, tmp_path / "results")
    before = {p: file_digest(p) for p in out.rglob("*.png") if p.parent.name == "fig2"}

    def no_transfer(*args, **kwargs):
        raise AssertionError("a panel was rendered again")

    monkeypatch.setattr(figures, "run_transfer", no_transfer)
    assert make("fig2", "--model", small_vgg, "--out", out, "--data", data_dir, *TINY) == 0
    assert {e["status"] for e in manifest(out, "fig2")["panels"]} == {"reused"}
    assert before == {p: file_digest(p) for p in before}
    assert "reused (same parameters and model)" in capsys.readouterr().out
    monkeypatch.undo()
    assert make("fig2", "--model", small_vgg, "--out", out, "--data", data_dir, *TINY, "--force") == 0
    assert {e["status"] for e in manifest(out, "fig2")["panels"]} == {"computed"}


def test_changed_parameters_or_image_render_again(rendered, tmp_path, small_vgg, data_dir):
    out = shutil.copytree(rendered, tmp_path / "results")
    (out / "arxiv" / "fig2" / "tubingen_scream.png").write_bytes(b"changed")
    assert make("fig2", "--model", small_vgg, "--out", out, "--data", data_dir, *TINY) == 0
    statuses = {e["name"]: e["status"] for e in manifest(out, "fig2")["panels"]}
    assert statuses.pop("tubingen_scream") == "computed"
    assert set(statuses.values()) == {"reused"}
    assert make("fig2", "--model", small_vgg, "--out", out, "--data", data_dir, "--quick",
                "--size", "32", "--iterations", "4") == 0
    assert {e["iterations"] for e in manifest(out, "fig2")["panels"]} == {4}
    assert make("fig2", "--model", small_vgg, "--out", out, "--data", data_dir, *TINY,
                "--optimiser", "device") == 0
    entries = manifest(out, "fig2")["panels"]
    assert {(e["status"], e["parameters"]["optimiser"]) for e in entries} == {("computed", "device")}


def test_without_the_picasso_panel_e_is_skipped(rendered, tmp_path, small_vgg, capsys):
    out = shutil.copytree(rendered, tmp_path / "results")
    (out / "arxiv" / "fig2" / "tubingen_seated_nude.png").unlink()
    assert make("fig2", "--model", small_vgg, "--out", out, *TINY) == 0
    assert "(panel E) skipped: seated-nude.jpg" in capsys.readouterr().out
    entries = {e["name"]: e for e in manifest(out, "fig2")["panels"]}
    assert entries["tubingen_seated_nude"]["status"] == "skipped"
    assert "--data DIR" in entries["tubingen_seated_nude"]["reason"]
    assert not (out / "arxiv" / "fig2" / "tubingen_seated_nude.png").exists()
    assert manifest(out, "fig2")["inputs"]["seated_nude"] is None


def test_parallel_jobs_render_every_panel(tmp_path, small_vgg, data_dir):
    assert make("fig2", "--paper", "cvpr", "--model", small_vgg, "--out", tmp_path,
                "--data", data_dir, "--jobs", "2", *TINY) == 0
    entries = manifest(tmp_path, "fig2", "cvpr")["panels"]
    assert [e["status"] for e in entries] == ["computed"] * 5
    assert {e["parameters"]["style_size"] for e in entries} == {"content"}
    assert (tmp_path / "cvpr" / "fig2.png").is_file()


def test_worker_devices(monkeypatch):
    assert worker_devices("cpu", 1) == [] and worker_devices("cpu", 3) == ["cpu"] * 3
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert worker_devices("cuda", 4) == ["cuda:0", "cuda:1"]  # one process per GPU
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert worker_devices("cuda", 4) == []


# --- bad input -------------------------------------------------------------------------------

def test_missing_model_says_how_to_get_it(tmp_path, capsys):
    assert make("fig2", "--model", tmp_path / "vgg19.pt", "--out", tmp_path / "out", *TINY) == 2
    err = capsys.readouterr().err
    assert "scripts/fetch_models.py" in err and "convert_caffe.py" in err and "--fetch" in err
    assert not (tmp_path / "out").exists()


def test_fetch_runs_the_fetch_script(tmp_path, monkeypatch, capsys):
    module = load_script("make_figures")
    monkeypatch.setattr(module, "FETCH", [sys.executable, "-c", "raise SystemExit(3)"])
    argv = ["fig2", "--model", str(tmp_path / "vgg19.pt"), "--out", str(tmp_path / "out"), "--fetch"]
    assert run_main(module.main, argv) == 2
    assert "fetch_models.py failed" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage, message", [
    (lambda folder: (folder / "tubingen.jpg").unlink(), "tubingen.jpg not found"),
    (lambda folder: (folder / "starry_night.jpg").write_bytes(b"not a jpeg"), "not a readable image"),
])
def test_missing_or_unreadable_input_stops_before_any_panel(tmp_path, small_vgg, monkeypatch,
                                                            capsys, damage, message):
    shipped = shutil.copytree(figures.SHIPPED, tmp_path / "inputs")
    damage(shipped)
    monkeypatch.setattr(figures, "SHIPPED", shipped)
    assert make("all", "--model", small_vgg, "--out", tmp_path / "out", *TINY) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_data_readme_lists_the_files_as_they_are():
    text = (ROOT / "data" / "README.md").read_text()
    listed = dict(re.findall(r"^\| ([\w.]+\.(?:jpg|png)) \|(?:.*\|)? ([0-9a-f]{16}) \|$", text, re.M))
    files = [*(ROOT / "data" / "inputs").iterdir(), *REFERENCE.iterdir()]
    assert listed == {p.name: file_digest(p)[:16] for p in files}
    assert {iio.imread(p).shape for p in REFERENCE.iterdir()} == {(384, 512, 3)}
    assert "seated-nude" not in " ".join(p.name for p in files)
