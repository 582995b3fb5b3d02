"""The figure tables hold the paper's values; the layout sets them in real type; the pipeline
renders every panel, figure and manifest on the small VGG-shaped network, reuses only what is
done, and stops cleanly on bad input."""
import argparse
import json
import re
import shutil
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import torch

import reproduce.figures.execute as execute
import reproduce.figures.plan as plan
from reproduce.errors import run_main
from reproduce.figures import PAPER_FIGURES, PRESETS, figure, make_figures
from reproduce.figures.execute import worker_devices
from reproduce.figures.layout import Tile, draw, save
from reproduce.figures.tables import Preset, caption, ratio_math, ratio_text
from reproduce.files import file_digest
from tests.helpers import ROOT, load_script

REFERENCE = ROOT / "data" / "reference" / "neural-style-fig2"
TINY = ["--quick", "--size", "32", "--iterations", "3"]
PANELS = {"fig1": 10, "fig2": 5, "fig3": 20}  # the arXiv figures
# the paper's style layers (arXiv p. 10; CVPR sec. 3), its content layer for Fig. 2 and 3
STYLE = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
pytestmark = pytest.mark.usefixtures("one_thread")


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


# --- the tables, as the panels' configs ------------------------------------------------------

@pytest.fixture(scope="module")
def configs(small_vgg, data_dir, tmp_path_factory):
    """{paper: {figure: {panel: TransferConfig}}} at the full preset, inputs named by file."""
    out = tmp_path_factory.mktemp("plan")
    result = {}
    for paper in ("arxiv", "cvpr"):
        figures = [figure(name, paper) for name in (*PAPER_FIGURES[paper], "colour")]
        inputs = plan.find_inputs({k for f in figures for k in f.inputs}, [data_dir])
        run = plan.make_run(out, paper, PRESETS["full"], small_vgg, inputs)
        result[paper] = {f.name: {p.job.name: p.config for p in plan.plan(f, run)}
                         for f in figures}
    return result


def named(config):
    """content and style images of a config by file name."""
    return (config.content and config.content.rsplit("/", 1)[1],
            tuple(s.rsplit("/", 1)[1] for s in config.styles))


@pytest.mark.parametrize("paper, content_layers", [
    ("arxiv", ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]),
    ("cvpr", ["conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2"]),
])
def test_fig1_style_from_growing_layer_sets_content_from_one_layer(configs, paper,
                                                                   content_layers):
    panels = list(configs[paper]["fig1"].values())
    style, content = panels[:5], panels[5:]
    assert [c.style_layers for c in style] == [STYLE[:n] for n in range(1, 6)]
    assert {(named(c), c.content_layers) for c in style} == {((None, ("starry_night.jpg",)), ())}
    assert [c.content_layers for c in content] == [(layer,) for layer in content_layers]
    assert {(named(c), c.style_layers) for c in content} == {(("tubingen.jpg", ()), ())}


@pytest.mark.parametrize("paper, name, ratios, style_size", [
    ("arxiv", "fig2", {"shipwreck.jpg": 1e-3, "starry_night.jpg": 1e-3, "the_scream.jpg": 1e-3,
               "seated-nude.jpg": 1e-4, "composition_vii.jpg": 1e-4}, "keep"),
    ("cvpr", "fig3", {"shipwreck.jpg": 1e-3, "starry_night.jpg": 8e-4, "the_scream.jpg": 5e-3,
              "seated-nude.jpg": 5e-4, "composition_vii.jpg": 5e-4}, "content"),
])
def test_fig2_ratios_of_each_version(configs, paper, name, ratios, style_size):
    """arXiv Fig. 2 is CVPR Fig. 3, with each version's ratios."""
    panels = configs[paper][name].values()
    assert {named(c)[1][0]: c.ratio for c in panels} == ratios
    assert {(named(c)[0], c.content_layers, c.style_layers, c.style_size) for c in panels} == \
        {("tubingen.jpg", ("conv4_2",), STYLE, style_size)}
    styles = figure(name, paper)
    assert [[cell.letter for cell in row] for row in styles.rows] == \
        [["A", "B"], ["C", "D"], ["E", "F"]]
    assert [cell.inset for cell in styles.cells] == \
        [None, "shipwreck", "starry", "scream", "seated_nude", "composition_vii"]


def test_fig3_five_layer_sets_by_four_ratios(configs):
    grid = [(c.style_layers, c.ratio) for c in configs["arxiv"]["fig3"].values()]
    assert grid == [(STYLE[:n], r) for n in range(1, 6) for r in (1e-5, 1e-4, 1e-3, 1e-2)]
    assert {named(c) for c in configs["arxiv"]["fig3"].values()} == \
        {("tubingen.jpg", ("composition_vii.jpg",))}


# the panels of each paper's result figures; those that change the start are CVPR Figs. 6 and 7
COUNTS = {"arxiv": 35, "cvpr": 10 + 5 + 4 + 2 + 6 + 1}
STARTS = {("cvpr", "fig6"), ("cvpr", "fig7")}


@pytest.mark.parametrize("paper", ["arxiv", "cvpr"])
def test_every_panel_uses_the_papers_common_setting(configs, paper):
    panels = [c for name in PAPER_FIGURES[paper] for c in configs[paper][name].values()]
    assert len(panels) == len({c.output for c in panels}) == COUNTS[paper]
    # average pooling, w_l = 1/(number of layers), L-BFGS-B (on the device), 512 px and 2000
    # iterations: the full preset
    assert {(c.pooling, c.style_weights, c.optimiser, c.size, c.iterations) for c in panels} == \
        {("avg", None, "device", 512, 2000)}
    # white noise, seed 0, but where a figure is about the start
    assert {(c.init, c.seed) for name in PAPER_FIGURES[paper] if (paper, name) not in STARTS
            for c in configs[paper][name].values()} == {("noise", 0)}


def test_colour_figure_is_the_notes_comparison(configs):
    """Gatys, Bethge, Hertzmann & Shechtman 2016, Fig. 1: plain, colour histogram matching,
    luminance-only, the same objective otherwise (beyond the 2015 paper: not in `all`)."""
    panels = list(configs["arxiv"]["colour"].values())
    assert [c.preserve_colour for c in panels] == [None, "histogram", "luminance"]
    assert {(named(c), c.ratio, c.content_layers, c.style_layers, c.seed, c.tv_weight,
             c.style_scale) for c in panels} == \
        {(("tubingen.jpg", ("starry_night.jpg",)), 1e-3, ("conv4_2",), STYLE, 0, 0.0, 1.0)}
    assert [cell.letter for cell in figure("colour", "arxiv").cells] == list("abcde")
    assert "colour" not in PAPER_FIGURES["arxiv"] + PAPER_FIGURES["cvpr"]


def test_fig2_panels_carry_the_reference_names():
    names = {f"{j.name}.png" for j in figure("fig2", "arxiv").jobs}
    # the Picasso-derived rendering is not shipped, like the painting itself
    assert names - {p.name for p in REFERENCE.iterdir()} == {"tubingen_seated_nude.png"}


def test_presets_and_captions():
    assert (PRESETS["full"].size, PRESETS["full"].iterations) == (512, 2000)
    assert (PRESETS["quick"].size, PRESETS["quick"].iterations) == (128, 40)
    styles = figure("fig3", "cvpr")
    assert "Paper setting: 512 px, 2000" in caption(styles, PRESETS["full"])
    quick = caption(styles, PRESETS["quick"])
    assert "Quick preset: 128 px, 40" in quick and "not the paper's setting" in quick
    assert "Figure 3 (CVPR values)" in quick and "Femme nue assise by Pablo Picasso" in quick
    assert [f"α/β = {r}" in quick for r in ("10⁻³", "8×10⁻⁴", "5×10⁻³", "5×10⁻⁴")] == [True] * 4
    args = argparse.Namespace(quick=True, size=32, iterations=None)
    preset = load_script("make_figures").preset_from(args)
    assert (preset.name, preset.size, preset.iterations) == ("quick", 32, 40)


def test_ratios_are_written_as_the_paper_writes_them():
    assert [ratio_text(r) for r in (1e-5, 1e-3, 8e-4, 5e-3)] == ["10⁻⁵", "10⁻³", "8×10⁻⁴", "5×10⁻³"]
    assert ratio_math(1e-2) == "10^{-2}" and ratio_math(5e-4) == "5\\times10^{-4}"
    assert figure("fig3", "arxiv").col_labels[0] == "$\\alpha/\\beta = 10^{-5}$"


# --- the layout --------------------------------------------------------------------------------

def test_layout_sets_letters_labels_inset_and_caption_in_real_type(tmp_path):
    image = np.full((24, 32, 3), 100.0, np.float32)
    rows = [[Tile(image, "A"), Tile(None, "B", image)], [Tile(image), Tile(image)]]
    drawn = draw(rows, ("conv1_1", "conv1_1\nto conv2_1"), ("$\\alpha/\\beta = 10^{-3}$", "x"),
                 "Figure 2. Neckarfront (A) in the style of Composition VII, α/β = 10⁻⁴.")
    texts = [t.get_text() for t in drawn.findobj(lambda a: hasattr(a, "get_text"))]
    for text in ("A", "B", "conv1_1", "$\\alpha/\\beta = 10^{-3}$", "Figure 2. Neckarfront (A) in"
                 " the style of Composition VII, α/β = 10⁻⁴."):
        assert text in texts
    assert len(drawn.axes) == 4
    assert [len(axes.child_axes) for axes in drawn.axes] == [0, 1, 0, 0]  # B's inset
    save(drawn, tmp_path / "f.png", tmp_path / "f.pdf")
    assert (tmp_path / "f.pdf").read_bytes()[:5] == b"%PDF-"
    png = iio.imread(tmp_path / "f.png")
    assert png.shape[1] == 1380 and png.shape[2] in (3, 4)  # 6.9 in at 200 dpi
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pdf", "f.png"]  # no temporaries


# --- the pipeline ----------------------------------------------------------------------------

def test_every_panel_figure_and_manifest_is_written(rendered):
    for name, count in PANELS.items():
        assert len(list((rendered / "arxiv" / name).glob("*.png"))) == count
        for png in (f"{name}.png", f"{name}_losses.png"):
            assert iio.imread(rendered / "arxiv" / png).ndim == 3
        for pdf in (f"{name}.pdf", f"{name}_losses.pdf"):
            assert (rendered / "arxiv" / pdf).read_bytes()[:5] == b"%PDF-"
        files = manifest(rendered, name)["files"]
        assert set(files) == {"png", "pdf", "losses_png", "losses_pdf"}
        assert {kind: file_digest(entry["file"]) for kind, entry in files.items()} == \
            {kind: entry["sha256"] for kind, entry in files.items()}
        entries = manifest(rendered, name)["panels"]
        assert [e["status"] for e in entries] == ["computed"] * count
        assert [e["name"] for e in entries] == [j.name for j in figure(name, "arxiv").jobs]


def test_manifest_holds_parameters_model_and_results(rendered, small_vgg):
    m = manifest(rendered, "fig2")
    assert m["model_sha256"] == file_digest(small_vgg)
    assert m["preset"] == dict(name="quick", size=32, iterations=3)
    assert "Quick preset" in m["caption"]
    for entry in m["panels"]:
        p = entry["parameters"]
        assert (p["size"], p["iterations"], p["seed"], p["style_size"], p["optimiser"]) == \
            (32, 3, 0, "keep", "device")
        assert entry["iterations"] == 3 and entry["seconds"] > 0
        assert np.isfinite(entry["losses"]["total"])
        assert set(entry["losses"]["E"]) == set(STYLE)
        assert entry["completed"] is True
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

    monkeypatch.setattr(execute, "run_transfer", no_transfer)
    assert make("fig2", "--model", small_vgg, "--out", out, "--data", data_dir, *TINY) == 0
    assert {e["status"] for e in manifest(out, "fig2")["panels"]} == {"reused"}
    assert before == {p: file_digest(p) for p in before}
    assert "reused (done before with the same parameters and network)" in capsys.readouterr().out
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


def test_a_panel_is_reused_only_if_its_record_says_completed(rendered, tmp_path, small_vgg,
                                                             data_dir):
    out = shutil.copytree(rendered, tmp_path / "results")
    folder = out / "arxiv" / "fig2"
    record = json.loads((folder / "tubingen_starry.json").read_text())
    (folder / "tubingen_starry.json").write_text(json.dumps(dict(record, completed=False,
                                                                 stop="interrupted")))
    (folder / "tubingen_scream.json").unlink()  # an image without its record
    assert make("fig2", "--model", small_vgg, "--out", out, "--data", data_dir, *TINY) == 0
    statuses = {e["name"]: e["status"] for e in manifest(out, "fig2")["panels"]}
    assert statuses == dict(tubingen_shipwreck="reused", tubingen_starry="computed",
                            tubingen_scream="computed", tubingen_seated_nude="reused",
                            tubingen_composition_vii="reused")
    assert json.loads((folder / "tubingen_starry.json").read_text())["completed"] is True


def test_a_record_older_than_a_field_reads_it_as_its_default(rendered, tmp_path, small_vgg,
                                                             data_dir):
    """A field added since a record was written keeps the old behaviour at its default: the
    record is reused; a field it lacks whose value the panel changes is not read as given."""
    out = shutil.copytree(rendered, tmp_path / "results")
    folder = out / "arxiv" / "fig2"
    for name, dropped in (("tubingen_starry", ("style_loss", "mmd_c", "style_crop")),
                          ("tubingen_seated_nude", ("ratio",))):  # its α/β is 10⁻⁴, not 10⁻³
        record = json.loads((folder / f"{name}.json").read_text())
        for key in dropped:
            del record["parameters"][key]
        (folder / f"{name}.json").write_text(json.dumps(record))
    assert make("fig2", "--model", small_vgg, "--out", out, "--data", data_dir, *TINY) == 0
    statuses = {e["name"]: e["status"] for e in manifest(out, "fig2")["panels"]}
    assert (statuses["tubingen_starry"], statuses["tubingen_seated_nude"]) == \
        ("reused", "computed")


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
    assert make("fig3", "--paper", "cvpr", "--model", small_vgg, "--out", tmp_path,
                "--data", data_dir, "--jobs", "2", *TINY) == 0
    entries = manifest(tmp_path, "fig3", "cvpr")["panels"]
    assert [e["status"] for e in entries] == ["computed"] * 5
    assert {e["parameters"]["style_size"] for e in entries} == {"content"}
    assert (tmp_path / "cvpr" / "fig3.png").is_file()


def test_a_backend_is_a_function_of_the_tasks(tmp_path, small_vgg, data_dir):
    given = []

    def backend(tasks):  # any order, as a pool or a cluster would finish them
        given.extend(task.key for task in tasks)
        for task in reversed(tasks):
            yield task, execute.render(task.config)

    manifests = make_figures(["fig2"], "arxiv", Preset("quick", 32, 3), tmp_path, small_vgg,
                             data_dirs=[data_dir], backend=backend, log=lambda line: None)
    assert given == [f"arxiv/fig2/tubingen_{style}" for style in
                     ("shipwreck", "starry", "scream", "seated_nude", "composition_vii")]
    assert [e["status"] for e in manifests[0]["panels"]] == ["computed"] * 5
    assert manifests[0] == manifest(tmp_path, "fig2")


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
    shipped = shutil.copytree(plan.SHIPPED, tmp_path / "inputs")
    damage(shipped)
    monkeypatch.setattr(plan, "SHIPPED", shipped)
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


def test_colour_figure_renders_with_the_quick_preset(tmp_path, small_vgg):
    out = tmp_path / "out"
    assert make("colour", "--model", small_vgg, "--out", out, *TINY) == 0
    entries = manifest(out, "colour")["panels"]
    assert [(e["status"], e["parameters"]["preserve_colour"]) for e in entries] == \
        [("computed", None), ("computed", "histogram"), ("computed", "luminance")]
    assert (out / "arxiv" / "colour.png").is_file() and (out / "arxiv" / "colour.pdf").is_file()
