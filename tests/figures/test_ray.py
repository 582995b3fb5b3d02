"""make_figures.py --ray and --grid: the quick Fig. 2 on a local Ray cluster is byte for byte the
--jobs 1 run, a worker killed mid-panel is retried and its tries recorded, Ctrl-C leaves only
finished panels counted as done, and a grid file renders its panels and reuses them all.
The Ray tests are skipped where Ray is not installed."""
import json
import os
import signal
import sys
import threading
import time

import pytest

from reproduce.errors import interrupts_raise, run_main
from reproduce.figures import PRESETS, make_figures
from reproduce.figures.execute import ray_backend
from reproduce.figures.make import make_grid
from reproduce.figures.tables import Preset
from reproduce.files import file_digest
from tests.helpers import load_script

TINY = ["--quick", "--size", "32", "--iterations", "3"]
PRESET = Preset("quick", 32, 3)
FIG2 = ["tubingen_shipwreck", "tubingen_starry", "tubingen_scream", "tubingen_composition_vii"]
pytestmark = pytest.mark.usefixtures("one_thread")  # the same threads here and in the workers


def make(*argv):
    """Exit status of scripts/make_figures.py run in this process."""
    return run_main(load_script("make_figures").main, [str(a) for a in argv])


def manifest(out, name="fig2", folder="arxiv"):
    return json.loads((out / folder / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def local(tmp_path_factory, small_vgg):
    """results/ of the quick Fig. 2 rendered with --jobs 1."""
    out = tmp_path_factory.mktemp("local")
    assert make("fig2", "--model", small_vgg, "--out", out, "--jobs", 1, *TINY) == 0
    return out


def comparable(written, out):
    """A manifest without what may differ between runs: timings, nodes, the output folder."""
    def without(value):
        if isinstance(value, dict):
            return {k: without(v) for k, v in value.items() if k not in ("seconds", "node")}
        return [without(v) for v in value] if isinstance(value, list) else value
    return without(json.loads(json.dumps(written).replace(str(out), "OUT")))


def panels(out):
    return {p.name: p.read_bytes() for p in (out / "arxiv" / "fig2").glob("*.png")}


def test_panels_on_ray_are_the_jobs_1_panels(ray, local, small_vgg, tmp_path):
    out = tmp_path / "ray"
    assert make("fig2", "--model", small_vgg, "--out", out, "--ray", "local",
                "--cpus-per-panel", 1, *TINY) == 0
    assert sorted(panels(out)) == sorted(f"{name}.png" for name in FIG2)
    assert panels(out) == panels(local)  # byte for byte
    assert (out / "arxiv" / "fig2.png").read_bytes() == (local / "arxiv" / "fig2.png").read_bytes()
    on_ray, here = manifest(out), manifest(local)
    assert comparable(on_ray, out) == comparable(here, local)
    for entry in on_ray["panels"]:
        if entry["status"] != "skipped":
            assert entry["status"] == "computed" and entry["attempts"] == 1
            assert set(entry["node"]) == {"host", "ip", "node_id", "peak_rss_mib"}
            record = json.loads((out / "arxiv" / "fig2" / f"{entry['name']}.json").read_text())
            assert record["node"] == entry["node"] and record["attempts"] == 1
            assert record["image_sha256"] == file_digest(entry["file"])


def killed_by_the_test(key, pid_file):
    """A fault hook: the first try of `key` says its worker's pid and waits to be killed."""
    def before_panel(task_key, attempt):
        if task_key == key and attempt == 1:
            with open(pid_file + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.rename(pid_file + ".tmp", pid_file)
            time.sleep(120)
    return before_panel


def kill_when_ready(pid_file, timeout=60):
    """SIGKILL the worker process whose pid appears in `pid_file`."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(pid_file) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.kill(int(open(pid_file).read()), signal.SIGKILL)


def test_a_worker_killed_mid_panel_is_retried(ray, local, small_vgg, tmp_path):
    pid_file = str(tmp_path / "worker.pid")
    killer = threading.Thread(target=kill_when_ready, args=(pid_file,), daemon=True)
    killer.start()
    lines = []
    backend = ray_backend(1, before_panel=killed_by_the_test("arxiv/fig2/tubingen_starry",
                                                             pid_file))
    [written] = make_figures(["fig2"], "arxiv", PRESET, tmp_path, small_vgg, backend=backend,
                             log=lines.append)
    killer.join()
    tries = {e["name"]: e.get("attempts") for e in written["panels"]}
    assert tries == dict(tubingen_shipwreck=1, tubingen_starry=2, tubingen_scream=1,
                         tubingen_seated_nude=None, tubingen_composition_vii=1)
    assert any("tubingen_starry: 3 iterations" in line and "try 2" in line for line in lines)
    assert panels(tmp_path) == panels(local)


def stall_unless(fast_key):
    """A fault hook: every panel but `fast_key` hangs until cancelled."""
    def before_panel(key, attempt):
        if key != fast_key:
            time.sleep(300)
    return before_panel


def test_ctrl_c_leaves_only_finished_panels_counted_as_done(ray, small_vgg, tmp_path, capsys):
    """SIGTERM arrives while the driver waits on the cluster, after one panel came back."""
    def log(line):
        if "iterations in" in line:  # the one fast panel is written: stop the run
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()

    backend = ray_backend(1, before_panel=stall_unless("arxiv/fig2/tubingen_shipwreck"))
    with pytest.raises(KeyboardInterrupt) as stopped, interrupts_raise():
        make_figures(["fig2"], "arxiv", PRESET, tmp_path, small_vgg, backend=backend, log=log)
    assert stopped.value.signum == signal.SIGTERM
    assert "stopped: 1 of 4 panels rendered and recorded this run" in capsys.readouterr().err
    folder = tmp_path / "arxiv" / "fig2"
    assert sorted(p.name for p in folder.iterdir()) == ["tubingen_shipwreck.json",
                                                        "tubingen_shipwreck.png"]
    assert not (tmp_path / "arxiv" / "fig2.json").exists()
    deadline = time.monotonic() + 30  # the stalled tasks are cancelled: the CPUs are free again
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU", 0) == 2

    lines = []  # the same run again: the finished panel reused, the rest rendered
    [written] = make_figures(["fig2"], "arxiv", PRESET, tmp_path, small_vgg,
                             backend=ray_backend(1), log=lines.append)
    assert {e["name"]: e["status"] for e in written["panels"]} == dict(
        tubingen_shipwreck="reused", tubingen_starry="computed", tubingen_scream="computed",
        tubingen_seated_nude="skipped", tubingen_composition_vii="computed")


GRID = """
title = "Two seeds by two ratios"
[base]
content = "{photo}"
styles = ["{painting}"]
iterations = 2
[axes]
seed = [0, 1]
ratio = [1e-3, 1e-1]
"""


def test_a_grid_renders_its_panels_and_a_second_run_reuses_them(ray, small_vgg, pictures,
                                                                tmp_path, capsys):
    grid = tmp_path / "seeds.toml"
    grid.write_text(GRID.format(**pictures))
    out = tmp_path / "out"
    assert make("--grid", grid, "--model", small_vgg, "--out", out, *TINY) == 0
    names = ["seed0_1e-03", "seed0_1e-01", "seed1_1e-03", "seed1_1e-01"]
    folder = out / "grids" / "seeds"
    assert sorted(p.name for p in folder.iterdir()) == \
        sorted(f"{n}.{kind}" for n in names for kind in ("png", "json"))
    written = manifest(out, "seeds", "grids")
    assert [e["name"] for e in written["panels"]] == names
    assert {e["status"] for e in written["panels"]} == {"computed"}
    # the grid sets the iterations; the preset (--size 32) gives what the grid leaves out
    assert {(e["parameters"]["iterations"], e["parameters"]["size"]) for e in written["panels"]} \
        == {(2, 32)}
    assert [(e["parameters"]["seed"], e["parameters"]["ratio"]) for e in written["panels"]] == \
        [(0, 1e-3), (0, 1e-1), (1, 1e-3), (1, 1e-1)]
    assert written["caption"] == ("Two seeds by two ratios. Rows: seed; columns: ratio.\n"
                                  "Rendered at 32 px with 2 L-BFGS-B iterations.")
    assert written["grid"] == dict(file=str(grid), sha256=file_digest(grid))
    assert (out / "grids" / "seeds.pdf").read_bytes()[:5] == b"%PDF-"
    capsys.readouterr()

    assert make("--grid", grid, "--model", small_vgg, "--out", out, "--ray", "local", *TINY) == 0
    said = capsys.readouterr().out
    assert said.count("reused") == 4 and "rendering" not in said
    assert {e["status"] for e in manifest(out, "seeds", "grids")["panels"]} == {"reused"}


def test_grid_through_the_api_is_the_command_lines(small_vgg, pictures, tmp_path):
    grid = tmp_path / "seeds.toml"
    grid.write_text(GRID.format(**pictures).replace("seed = [0, 1]", "seed = [3]"))
    written = make_grid(grid, PRESETS["quick"], tmp_path, small_vgg, log=lambda line: None)
    assert [e["name"] for e in written["panels"]] == ["seed3_1e-03", "seed3_1e-01"]
    assert {e["parameters"]["size"] for e in written["panels"]} == {PRESETS["quick"].size}


@pytest.mark.parametrize("argv, message", [
    (["fig2", "--grid", "g.toml"], "--grid renders the grid file's panels: leave out the figure"),
    (["--ray", "local", "--jobs", "2"], "--jobs is for one machine"),
    (["--cpus-per-panel", "2"], "--cpus-per-panel takes a positive number, with --ray"),
    (["--ray", "nowhere"], "--ray 'nowhere': give auto, local or HOST:PORT"),
])
def test_options_that_do_not_go_together(small_vgg, tmp_path, capsys, argv, message):
    assert make(*argv, "--model", small_vgg, "--out", tmp_path, *TINY) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_ray_not_installed_is_one_line(small_vgg, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert make("fig2", "--model", small_vgg, "--out", tmp_path, "--ray", *TINY) == 2
    assert capsys.readouterr().err == "error: Ray is not installed: pip install -e '.[ray]'\n"
    assert not (tmp_path / "arxiv").exists()
