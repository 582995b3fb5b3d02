"""Figures reach nothing they must not (the safety issue, items 3, 10, 13, 14, 16, 17): panels
never overwrite the images they are made from, even through a linked --out; grids are bounded and
named plainly; records and locks that are not what they should be are one line or a re-render;
the diff names what it cannot compare; a start image is part of a panel's parameters; a skipped
panel leaves no old image behind."""
import json
import shutil
import time

import imageio.v3 as iio
import numpy as np
import pytest

from reproduce.errors import run_main
from reproduce.files import file_digest
from reproduce.run.grid import GridError, load_grid
from tests.helpers import load_script

TINY = ["--quick", "--size", "24", "--iterations", "2"]
pytestmark = pytest.mark.usefixtures("one_thread")


def make(*argv):
    return run_main(load_script("make_figures").main, [str(a) for a in argv])


def grid_file(folder, content, name="grid.toml", axes='seed = [0, 1]'):
    path = folder / name
    path.write_text(f'[base]\ncontent = "{content}"\nstyles = ["{content}"]\n[axes]\n{axes}\n')
    return path


# --- item 3: a grid's panel never overwrites its own content image, through a linked --out -----

def test_a_panel_through_a_linked_out_may_not_overwrite_the_grids_content(tmp_path, small_vgg,
                                                                         pictures, capsys):
    """--out is a link into the folder that holds the content image, which a panel's name
    would hit: refused before any panel runs, the image untouched."""
    inputs = tmp_path / "inputs" / "grids" / "grid"
    inputs.mkdir(parents=True)
    content = inputs / "seed0.png"
    shutil.copy(pictures["photo"], content)
    before = file_digest(content)
    (tmp_path / "out").symlink_to(tmp_path / "inputs")
    grid = grid_file(tmp_path, content)
    assert make("--grid", grid, "--model", small_vgg, "--out", tmp_path / "out", *TINY) == 2
    err = capsys.readouterr().err
    assert "seed0 (image)" in err and "would overwrite the input" in err and err.count("\n") == 1
    assert file_digest(content) == before


# --- item 10: a grid is bounded, and its checks are linear ---------------------------------------

def test_a_grid_of_too_many_panels_is_refused_at_once(tmp_path, pictures):
    axes = "\n".join(f"{a} = [{', '.join(str(i) for i in range(1, 61))}]" for a in ("seed", "size"))
    axes += "\nratio = [" + ", ".join(f"1e-{i}" for i in range(1, 61)) + "]"
    grid = grid_file(tmp_path, pictures["photo"], axes=axes)  # 1.9 KB of TOML
    started = time.monotonic()
    with pytest.raises(GridError, match=r"60 × 60 × 60 = 216,000 panels, more than 5,000; split "
                                        r"the grid, or allow more with --max-panels"):
        load_grid(grid)
    assert time.monotonic() - started < 2


def test_the_panel_bound_can_be_raised_and_checks_stay_fast(tmp_path, pictures):
    axes = "seed = [" + ", ".join(str(i) for i in range(100)) + "]\nratio = [" + \
        ", ".join(f"{i}e-4" for i in range(1, 81)) + "]"
    grid = grid_file(tmp_path, pictures["photo"], axes=axes)
    with pytest.raises(GridError, match="8,000 panels"):
        load_grid(grid)
    started = time.monotonic()
    assert len(load_grid(grid, max_panels=10_000).panels) == 8000
    assert time.monotonic() - started < 30  # linear: 8000 names, not 64 million comparisons


# --- item 13: plain names ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["...toml", ".hidden.toml"])
def test_a_grid_named_as_no_folder_can_be_is_refused(tmp_path, pictures, name):
    grid = grid_file(tmp_path, pictures["photo"], name=name)
    with pytest.raises(GridError, match="the grid's name .* names its folder of panels"):
        load_grid(grid)


@pytest.mark.parametrize("label", ["..", ".", ".x"])
def test_a_label_that_is_no_plain_name_is_refused(tmp_path, pictures, label):
    grid = grid_file(tmp_path, pictures["photo"],
                     axes=f'[axes.seed]\nvalues = [0]\nlabels = ["{label}"]')
    with pytest.raises(GridError, match="not starting with a dot"):
        load_grid(grid)


# --- item 14: records and locks ------------------------------------------------------------------

@pytest.fixture
def once(tmp_path, small_vgg, pictures):
    grid = grid_file(tmp_path, pictures["photo"], axes="seed = [0]")
    out = tmp_path / "out"
    assert make("--grid", grid, "--model", small_vgg, "--out", out, *TINY) == 0
    return grid, out, out / "grids" / "grid"


def test_a_hand_edited_record_cannot_change_the_manifests_own_fields(once, small_vgg):
    grid, out, folder = once
    record = json.loads((folder / "seed0.json").read_text())
    record.update(status="forged", file="/etc/passwd", name="other")
    (folder / "seed0.json").write_text(json.dumps(record))
    assert make("--grid", grid, "--model", small_vgg, "--out", out, *TINY) == 0
    [entry] = json.loads((out / "grids" / "grid.json").read_text())["panels"]
    assert (entry["status"], entry["name"]) == ("reused", "seed0")
    assert entry["file"] == str(folder / "seed0.png")


def test_a_record_nested_too_deep_is_rendered_again(once, small_vgg, capsys):
    grid, out, folder = once
    (folder / "seed0.json").write_text("[" * 200_000 + "]" * 200_000)
    assert make("--grid", grid, "--model", small_vgg, "--out", out, *TINY) == 0
    assert "rendering 1 panels" in capsys.readouterr().out
    assert json.loads((folder / "seed0.json").read_text())["completed"] is True


def test_a_record_that_is_a_folder_is_one_line(once, small_vgg, capsys):
    grid, out, folder = once
    (folder / "seed0.json").unlink()
    (folder / "seed0.json").mkdir()
    assert make("--grid", grid, "--model", small_vgg, "--out", out, *TINY) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "seed0.json: a folder or a link where" in err


def test_a_lock_that_is_a_folder_is_one_line(tmp_path, small_vgg, pictures, capsys):
    out = tmp_path / "out"
    (out / ".make_figures.lock").mkdir(parents=True)
    grid = grid_file(tmp_path, pictures["photo"], axes="seed = [0]")
    assert make("--grid", grid, "--model", small_vgg, "--out", out, *TINY) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot take its lock" in err


# --- item 17: a start image is hashed; a skipped panel's old files go -----------------------------

def test_a_grids_start_image_is_part_of_its_panels_parameters(tmp_path, small_vgg, pictures, capsys):
    start = tmp_path / "start.png"
    shutil.copy(pictures["painting"], start)
    grid = tmp_path / "grid.toml"
    grid.write_text(f'[base]\ncontent = "{pictures["photo"]}"\nstyles = ["{pictures["photo"]}"]\n'
                    f'init = "{start}"\n[axes]\nseed = [0]\n')
    out = tmp_path / "out"
    assert make("--grid", grid, "--model", small_vgg, "--out", out, *TINY) == 0
    record = json.loads((out / "grids" / "grid" / "seed0.json").read_text())
    assert record["parameters"]["init_sha256"] == file_digest(start)
    iio.imwrite(start, np.zeros((16, 24, 3), np.uint8))  # another start, the same path
    capsys.readouterr()
    assert make("--grid", grid, "--model", small_vgg, "--out", out, *TINY) == 0
    assert "rendering 1 panels" in capsys.readouterr().out  # not reused


def test_a_skipped_panels_old_image_and_record_go(tmp_path, small_vgg, capsys):
    """Rendered once with Femme nue assise, then without: the manifest says skipped, and no
    image of the Picasso stays beside it."""
    data = tmp_path / "data"
    data.mkdir()
    iio.imwrite(data / "seated-nude.jpg", np.full((40, 30, 3), 90, np.uint8))
    out = tmp_path / "out"
    assert make("fig2", "--model", small_vgg, "--out", out, "--data", data, *TINY) == 0
    panel = out / "arxiv" / "fig2" / "tubingen_seated_nude"
    assert panel.with_suffix(".png").exists()
    assert make("fig2", "--model", small_vgg, "--out", out, *TINY) == 0
    assert not panel.with_suffix(".png").exists() and not panel.with_suffix(".json").exists()
    entries = {e["name"]: e for e in json.loads((out / "arxiv" / "fig2.json").read_text())["panels"]}
    assert entries["tubingen_seated_nude"]["status"] == "skipped"
