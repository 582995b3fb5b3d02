"""make_figures.py runs you can trust, tested on real processes: Ctrl-C and SIGTERM stop the
whole run (--jobs 1 and 2) with 130/143 and a message saying what is done, and nothing they cut
short is reused; one writer per results folder; an unwritable --out fails before any work."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import ROOT

from reproduce.files import file_digest

SCRIPT = ROOT / "scripts" / "make_figures.py"
LONG = ["--quick", "--size", "32", "--iterations", "100000"]  # runs until stopped
TINY = ["--quick", "--size", "32", "--iterations", "3"]


def start(*argv):
    """make_figures.py in a process of its own, its output read line by line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, str(SCRIPT), *map(str, argv)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(process, text, timeout=120):
    """Read the process's output until a line holds `text`; the lines read."""
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    process.kill()
    raise AssertionError(f"{text!r} never came: {lines} {process.stderr.read()}")


def records(folder):
    return {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_whole_run_and_nothing_cut_short_is_reused(tmp_path, small_vgg,
                                                                      jobs, signum):
    out = tmp_path / "out"
    process = start("fig2", "--model", small_vgg, "--out", out, "--jobs", jobs, *LONG)
    wait_for(process, "started on cpu")
    time.sleep(2)  # into the panel's optimisation
    started = time.monotonic()
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert time.monotonic() - started < 30  # promptly, workers included
    assert process.returncode == 128 + signum
    assert f"interrupted ({signal.Signals(signum).name})" in stderr
    assert "stopped: 0 of 4 panels rendered" in stderr and "run the same command again" in stderr
    folder = out / "arxiv" / "fig2"
    assert all(r["completed"] is False for r in records(folder).values())  # none vouched for
    assert not (out / "arxiv" / "fig2.json").exists() and not (out / "arxiv" / "fig2.png").exists()
    if folder.exists():  # an interrupted panel's image may stay, but no temporaries
        assert not [p for p in folder.iterdir() if p.name.startswith(".")]

    rerun = subprocess.run([sys.executable, str(SCRIPT), "fig2", "--model", str(small_vgg),
                            "--out", str(out), *TINY], capture_output=True, text=True,
                           env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "reused" not in rerun.stdout
    manifest = json.loads((out / "arxiv" / "fig2.json").read_text())
    entries = {e["name"]: e for e in manifest["panels"]}
    assert {n: e["status"] for n, e in entries.items() if e["status"] != "skipped"} == \
        dict.fromkeys(["tubingen_shipwreck", "tubingen_starry", "tubingen_scream",
                       "tubingen_composition_vii"], "computed")
    assert all(e["image_sha256"] == file_digest(e["file"]) for e in entries.values()
               if e["status"] == "computed")


def test_one_writer_per_results_folder(tmp_path, small_vgg):
    out = tmp_path / "out"
    first = start("fig2", "--model", small_vgg, "--out", out, *LONG)
    try:
        wait_for(first, "rendering 4 panels")
        second = subprocess.run([sys.executable, str(SCRIPT), "fig2", "--model", str(small_vgg),
                                 "--out", str(out), *TINY], capture_output=True, text=True,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [
            f"error: --out {out}: another make_figures.py is writing there; wait for it to "
            f"finish or choose another --out"]
        assert first.poll() is None  # the first goes on
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert first.returncode == 143


@pytest.mark.parametrize("out", ["/proc/out", "file.txt/out"])
def test_unwritable_out_fails_before_the_network_is_looked_at(tmp_path, out):
    (tmp_path / "file.txt").write_text("a file")
    result = subprocess.run([sys.executable, str(SCRIPT), "fig2", "--model",
                             str(tmp_path / "missing.pt"), "--out", str(tmp_path / out), *TINY],
                            capture_output=True, text=True, cwd=tmp_path,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: --out") and result.stderr.count("\n") == 1
