"""Panels on a local Ray cluster: byte-identical to local runs, lost workers retried, Ctrl-C
cancels, bad inputs are one-line errors. Skipped where Ray is not installed."""
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from reproduce.errors import ReproduceError, interrupts_raise
from reproduce.run import cluster
from reproduce.run.grid import load_grid
from reproduce.run.transfer import TransferConfig, run_transfer

SETTING = dict(size=32, iterations=5, device="cpu")


def configs(small_vgg, pictures, folder, ratios):
    """A tiny panel per ratio, each with its own seed."""
    return [(f"r{ratio:g}", TransferConfig(
        content=str(pictures["photo"]), styles=(str(pictures["painting"]),), model=str(small_vgg),
        output=str(folder / f"r{ratio:g}.png"), log=str(folder / f"r{ratio:g}.json"), ratio=ratio,
        seed=seed, **SETTING)) for seed, ratio in enumerate(ratios)]


def local_run(config, folder):
    """The same panel rendered by run_transfer in this process: (image bytes, summary)."""
    here = dataclasses.replace(config, output=str(folder / "local.png"), log=None)
    summary = run_transfer(here, progress=False)
    return (folder / "local.png").read_bytes(), summary


def crash_first_try(marker):
    """A fault: the first try of a panel kills its worker process mid-task."""
    def before_panel(key, attempt):
        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)
    return before_panel


def stall_unless(fast_key):
    """Every panel but `fast_key` hangs, so that it is still running when Ctrl-C comes."""
    def before_panel(key, attempt):
        if key != fast_key:
            time.sleep(300)
    return before_panel


def test_bad_address_and_no_ray_are_one_line(monkeypatch):
    """(First in this module: it needs no cluster connected yet.)"""
    with pytest.raises(ReproduceError, match="give auto, local or HOST:PORT"):
        cluster.connect("not an address")
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(ReproduceError, match=rf"^--ray 127.0.0.1:{port}: no Ray cluster reached"):
        cluster.connect(f"127.0.0.1:{port}")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ReproduceError, match=r"pip install -e '\.\[ray\]'"):
        cluster.connect("local")


def remove(folder):
    """No shared file system: the driver's files are gone before a worker could read them."""
    def before_panel(key, attempt):
        shutil.rmtree(folder, ignore_errors=True)
    return before_panel


def test_panels_match_local_runs(ray, small_vgg, pictures, tmp_path, one_thread):
    driver = tmp_path / "driver"  # copies of the network (with its siblings) and the pictures
    driver.mkdir()
    for path in [*pictures.values(), *cluster.network_files(small_vgg).values()]:
        shutil.copy(path, driver)
    copies = {name: driver / path.name for name, path in pictures.items()}
    tasks = configs(driver / os.path.basename(small_vgg), copies, tmp_path, (1e-3, 1e-1, 10.0))
    done = {}
    for finished in cluster.run_panels_on_ray(tasks, cpus_per_panel=1, progress=False,
                                              before_panel=remove(str(driver))):
        cluster.write_finished(finished, dict(tasks)[finished.key])
        done[finished.key] = finished
    assert sorted(done) == sorted(key for key, _ in tasks) and not driver.exists()
    for key, config in tasks:
        image, summary = local_run(dataclasses.replace(
            config, content=str(pictures["photo"]), styles=(str(pictures["painting"]),),
            model=str(small_vgg)), tmp_path)
        assert done[key].image == image
        assert open(config.output, "rb").read() == image
        assert done[key].attempts == 1
        assert done[key].node["host"] == socket.gethostname()
        for name in ("losses", "iterations", "stop", "completed", "alpha", "beta", "model_sha256"):
            assert getattr(done[key].summary, name) == getattr(summary, name)
        assert done[key].summary.output == config.output
        assert done[key].summary.config == config
        log = json.loads(open(config.log).read())
        assert [h["iteration"] for h in log["history"]] == [1, 2, 3, 4, 5]
        assert log["attempts"] == 1 and log["losses"] == summary.losses.as_dict()


def test_lost_worker_is_retried(ray, small_vgg, pictures, tmp_path, one_thread):
    [(key, config)] = configs(small_vgg, pictures, tmp_path, (1e-2,))
    marker = tmp_path / "crashed"
    [finished] = cluster.run_panels_on_ray([(key, config)], cpus_per_panel=1, progress=False,
                                           before_panel=crash_first_try(str(marker)))
    assert marker.exists()
    assert finished.attempts == 2
    assert finished.image == local_run(config, tmp_path)[0]


@pytest.mark.parametrize("where", ["consumer", "signal"])
def test_ctrl_c_cancels_the_rest(ray, small_vgg, pictures, tmp_path, where):
    """Ctrl-C in the loop that writes the panels, or SIGTERM while the driver waits for the
    next one: the interrupt goes on up, nothing more is yielded, the other tasks are killed."""
    tasks = configs(small_vgg, pictures, tmp_path, (1e-3, 1e-2, 1e-1))
    seen = []
    panels = cluster.run_panels_on_ray(tasks, cpus_per_panel=1, progress=False,
                                       before_panel=stall_unless("r0.001"))
    with pytest.raises(KeyboardInterrupt) as e, contextlib.closing(panels), interrupts_raise():
        for finished in panels:
            seen.append(finished.key)
            if where == "consumer":
                raise KeyboardInterrupt
            threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
    assert seen == ["r0.001"]
    assert where == "consumer" or e.value.signum == signal.SIGTERM
    deadline = time.monotonic() + 30  # the stalled tasks are killed, their CPUs free again
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU", 0) == 2


def test_bad_input_found_in_the_worker_is_one_line(ray, small_vgg, pictures, tmp_path):
    [(key, config)] = configs(small_vgg, pictures, tmp_path, (1e-3,))
    config = dataclasses.replace(config, style_layers=("conv9_9",))
    with pytest.raises(ReproduceError, match=r"^panel r0.001: unknown layer conv9_9") as e:
        list(cluster.run_panels_on_ray([(key, config)], cpus_per_panel=1, progress=False))
    assert "\n" not in str(e.value)
    assert not os.path.exists(config.output)


def test_inputs_and_outputs_checked_before_any_task(ray, small_vgg, pictures, tmp_path):
    [(key, config)] = configs(small_vgg, pictures, tmp_path, (1e-3,))
    (tmp_path / "file.txt").write_text("")
    bad = {"missing.png: cannot read": dataclasses.replace(config, content=str(tmp_path / "missing.png")),
           "no such network file": dataclasses.replace(config, model=str(tmp_path / "x.pt")),
           "is a file, not a folder": dataclasses.replace(
               config, output=str(tmp_path / "file.txt" / "out.png"))}
    for message, wrong in bad.items():
        with pytest.raises(ReproduceError, match=message):
            list(cluster.run_panels_on_ray([(key, wrong)], progress=False))
    with pytest.raises(ReproduceError, match="same key"):
        list(cluster.run_panels_on_ray([(key, config), (key, config)], progress=False))


def test_network_ships_with_its_siblings(small_vgg):
    names = cluster.network_files(small_vgg)
    assert list(names)[0] == "vgg19_div8.onnx"  # the network file, then its record
    assert set(names) == {"vgg19_div8.onnx", "vgg19_div8.json"}


def test_project_imports_without_ray():
    code = ("import sys; sys.modules['ray'] = None; "
            "import reproduce.run.cluster, reproduce.run.grid, reproduce.figures, reproduce.run.transfer")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_grid_renders_on_the_cluster(ray, small_vgg, pictures, tmp_path):
    (tmp_path / "grid.toml").write_text(f"""
[base]
content = "{pictures['photo']}"
styles = ["{pictures['painting']}"]
iterations = 3
[axes]
seed = [0, 1]
""")
    grid = load_grid(tmp_path / "grid.toml")
    tasks = [(name, TransferConfig(**overrides, model=str(small_vgg), size=32,
                                   output=str(tmp_path / f"{name}.png")))
             for name, overrides in grid.panels]
    for finished in cluster.run_panels_on_ray(tasks, cpus_per_panel=1, progress=False):
        cluster.write_finished(finished, dict(tasks)[finished.key])
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["seed0.png", "seed1.png"]
