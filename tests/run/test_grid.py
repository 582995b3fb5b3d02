"""Grid files: the paper's Fig. 3 as a grid, expansion order and names, one-line errors."""
import dataclasses
import shutil

import pytest

from reproduce.figures import PRESETS, SHIPPED, figure
from reproduce.figures.grid_figure import grid_figure
from reproduce.files import ROOT
from reproduce.run.grid import KINDS, RUN_FIELDS, GridError, load_grid
from reproduce.run.transfer import TransferConfig

FIG3 = ROOT / "data" / "grids" / "fig3.toml"


@pytest.fixture
def folder(tmp_path, pictures):
    """A grid's folder with images/photo.png and images/painting.png beside it."""
    (tmp_path / "images").mkdir()
    for path in pictures.values():
        shutil.copy(path, tmp_path / "images" / path.name)
    return tmp_path


def grid_file(folder, text):
    path = folder / "grid.toml"
    path.write_text(text)
    return path


SMALL = """
title = "two ratios, two seeds"
[base]
content = "images/photo.png"
styles = ["images/painting.png"]
iterations = 5
[axes]
ratio = [1e-3, 1.5e-2]
seed = [0, 7]
"""


def test_fig3_grid_is_the_papers_fig3():
    grid = load_grid(FIG3)
    layers = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
    ratios = (1e-5, 1e-4, 1e-3, 1e-2)
    assert grid.axes == {"style_layers": list(layers), "ratio": ["1e-05", "1e-04", "1e-03", "1e-02"]}
    assert len(grid.panels) == 20
    for i, (name, overrides) in enumerate(grid.panels):
        row, column = divmod(i, 4)
        assert name == f"{layers[row]}_{ratios[column]:.0e}"
        assert overrides["style_layers"] == layers[:row + 1]
        assert overrides["ratio"] == ratios[column]
        assert overrides["content"] == str(SHIPPED / "tubingen.jpg")
        assert overrides["styles"] == (str(SHIPPED / "composition_vii.jpg"),)
        assert (overrides["content_layers"], overrides["pooling"], overrides["init"],
                overrides["seed"], overrides["style_size"]) == (("conv4_2",), "avg", "noise", 0,
                                                                "keep")
    jobs = figure("fig3", "arxiv").jobs  # the same panels, in the same order, as the figure's table
    assert [name for name, _ in grid.panels] == [job.name for job in jobs]
    for (_, overrides), job in zip(grid.panels, jobs):
        assert (overrides["style_layers"], overrides["ratio"]) == \
            (job.changes["style_layers"], job.changes["ratio"])


def test_axes_expand_in_order_with_paths_beside_the_file(folder):
    grid = load_grid(grid_file(folder, SMALL))
    assert grid.title == "two ratios, two seeds"
    assert [name for name, _ in grid.panels] == ["1e-03_seed0", "1e-03_seed7", "1.5e-02_seed0",
                                                 "1.5e-02_seed7"]
    assert [(o["ratio"], o["seed"]) for _, o in grid.panels] == [(1e-3, 0), (1e-3, 7),
                                                                 (1.5e-2, 0), (1.5e-2, 7)]
    name, overrides = grid.panels[0]
    assert overrides == dict(content=str(folder / "images" / "photo.png"),
                             styles=(str(folder / "images" / "painting.png"),), iterations=5,
                             ratio=1e-3, seed=0)
    config = TransferConfig(**overrides, output=str(folder / f"{name}.png"))
    assert config.size == TransferConfig.size  # what the grid leaves out stays the caller's


def test_every_axis_and_labels(folder):
    grid = load_grid(grid_file(folder, """
[base]
content = "images/photo.png"
[axes]
styles = ["images/painting.png", ["images/painting.png", "images/photo.png"]]
size = [32, 48]
pooling = ["max"]
content_layers = ["conv4_2", ["conv1_1", "conv2_1"]]
[axes.style_layers]
values = [["conv1_1"], ["conv1_1", "conv5_1"]]
labels = ["low", "low+high"]
"""))
    assert len(grid.panels) == 2 * 2 * 1 * 2 * 2
    assert grid.panels[-1].name == "painting+photo_48px_max_conv1_1+conv2_1_low+high"
    assert grid.panels[-1].overrides["style_layers"] == ("conv1_1", "conv5_1")
    assert grid.panels[-1].overrides["content_layers"] == ("conv1_1", "conv2_1")
    assert len(grid.panels[-1].overrides["styles"]) == 2
    contents = load_grid(grid_file(folder, """
[base]
styles = ["images/painting.png"]
[axes]
content = ["images/photo.png", "images/painting.png"]
"""))
    assert [name for name, _ in contents.panels] == ["photo", "painting"]


def test_a_grid_sets_every_transfer_field_but_the_callers():
    fields = {f.name for f in dataclasses.fields(TransferConfig)}
    assert set(KINDS) == fields - set(RUN_FIELDS)


BASE = '[base]\ncontent = "images/photo.png"\nstyles = ["images/painting.png"]\n'
BAD = [  # (grid file, the error's message)
    ("bass = 1\n" + BASE + "[axes]\nseed = [0]\n", r"grid.toml: unknown key 'bass'"),
    (BASE + "colour = 3\n[axes]\nseed = [0]\n", r"grid.toml:4: base.colour: not a field"),
    (BASE + "output = 'x.png'\n[axes]\nseed = [0]\n", r"base.output: .*set by the command line"),
    (BASE + "[axes]\nbrightness = [1]\n", r"grid.toml:5: axes.brightness: not an axis"),
    (BASE + "[axes]\nratio = []\n", r"grid.toml:5: axes.ratio: is empty"),
    (BASE + "[axes]\nratio = 1e-3\n", r"axes.ratio: must be a list of values"),
    (BASE + "[axes]\nratio = [1e-3, 'big']\n", r"axes.ratio\[1\]: must be a number, not 'big'"),
    (BASE + "[axes]\nseed = [true]\n", r"axes.seed\[0\]: must be a whole number"),
    (BASE + "[axes]\npooling = ['mean']\n", r"axes.pooling\[0\]: must be one of avg, max"),
    ("[base]\nstyles = ['images/painting.png']\n[axes]\ncontent = ['images/none.png']\n",
     r"grid.toml:4: axes.content\[0\]: no such file .*none.png"),
    (BASE + "[axes]\nstyle_layers = [[]]\n", r"axes.style_layers\[0\]: must be a list of layer"),
    (BASE + "[axes]\nseed = [0, 0]\n", r"axes.seed: two values are labelled 'seed0'"),
    (BASE + "[axes]\nseed = [0]\ncontent = ['images/photo.png']\n",
     r"axes.content: is also set in \[base\]"),
    (BASE + "[axes.seed]\nvalues = [1, 2]\nlabels = ['a']\n", r"grid.toml:4: axes.seed: labels"),
    (BASE + "[axes.seed]\nvalues = [1]\nlabels = ['a b']\n", r"axes.seed\[0\]: label 'a b'"),
    (BASE + "[axes.seed]\nvalue = [1]\n", r"axes.seed: unknown key 'value'"),
    (BASE + "[axes]\nratio = [-1.0]\n", r"panel -1e\+00: --ratio must be a finite number > 0"),
    ("[base]\nseed = 1\n[axes]\nratio = [1e-3]\n", r"panel 1e-03: give a content image"),
    (BASE, r"no \[axes\]"),
    (BASE + "[axes]\nratio = [1e-3] x\n", r"grid.toml: not TOML: .*line 5"),
    ("[axes]\nstyles = ['images/painting.png', 'images/painting.png']\n",
     r"two values are labelled 'painting'"),
]


@pytest.mark.parametrize("text, message", BAD, ids=[m for _, m in BAD])
def test_bad_grid_files_are_one_line_errors(folder, text, message):
    with pytest.raises(GridError, match=message) as e:
        load_grid(grid_file(folder, text))
    assert "\n" not in str(e.value)


def test_missing_grid_file(tmp_path):
    with pytest.raises(GridError, match=r"none.toml: cannot read"):
        load_grid(tmp_path / "none.toml")


def test_fig3_grid_as_a_figure_has_the_papers_rows_and_columns():
    grid = grid_figure(load_grid(FIG3), PRESETS["full"])
    assert (grid.name, grid.paper) == ("fig3", "grids")  # OUT/grids/fig3/
    assert grid.row_labels == ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
    assert grid.col_labels == ("1e-05", "1e-04", "1e-03", "1e-02")
    assert [[cell.item.name for cell in row] for row in grid.rows] == \
        [[job.name for job in figure("fig3", "arxiv").jobs[i:i + 4]] for i in range(0, 20, 4)]
    assert grid.caption.endswith("Rows: style_layers; columns: ratio.\n"
                                   "Rendered at 512 px with 2000 L-BFGS-B iterations.")


def test_three_axes_as_a_figure_rows_are_the_outer_combinations(folder):
    grid = load_grid(grid_file(folder, SMALL.replace("[axes]", "[axes]\nsize = [32, 48]")))
    figure = grid_figure(grid, PRESETS["quick"])
    assert figure.row_labels == ("32px\n1e-03", "32px\n1.5e-02", "48px\n1e-03", "48px\n1.5e-02")
    assert figure.col_labels == ("seed0", "seed7")
    assert figure.rows[3][1].item.name == "48px_1.5e-02_seed7"
    assert figure.caption.endswith("Rendered at 32, 48 px with 5 L-BFGS-B iterations.")
