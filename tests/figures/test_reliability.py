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

from reproduce.errors import run_main
from reproduce.files import file_digest
from tests.helpers import ROOT, load_script

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


def make(*argv):
    """Exit status of scripts/make_figures.py run in this process."""
    return run_main(load_script("make_figures").main, [str(a) for a in argv])


@pytest.mark.parametrize("jobs, signum", [(1, signal.SIGINT), (1, signal.SIGTERM),
                                          (2, signal.SIGINT)])
def test_a_signal_stops_the_whole_run_and_nothing_cut_short_is_reused(tmp_path, small_vgg,
                                                                      capsys, jobs, signum):
    out = tmp_path / "out"
    process = start("fig2", "--model", small_vgg, "--out", out, "--jobs", jobs, *LONG)
    wait_for(process, "started on cpu")
    # one writer per results folder: a second run into the same --out refuses, in one line
    assert make("fig2", "--model", small_vgg, "--out", out, *TINY) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: --out {out}: another make_figures.py is writing there; wait for it to finish "
        f"or choose another --out"]
    assert process.poll() is None  # the first goes on
    time.sleep(1)  # into the panel's optimisation
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

    assert make("fig2", "--model", small_vgg, "--out", out, *TINY) == 0
    assert "reused" not in capsys.readouterr().out
    manifest = json.loads((out / "arxiv" / "fig2.json").read_text())
    entries = {e["name"]: e for e in manifest["panels"]}
    assert {n: e["status"] for n, e in entries.items() if e["status"] != "skipped"} == \
        dict.fromkeys(["tubingen_shipwreck", "tubingen_starry", "tubingen_scream",
                       "tubingen_composition_vii"], "computed")
    assert all(e["image_sha256"] == file_digest(e["file"]) for e in entries.values()
               if e["status"] == "computed")


@pytest.mark.parametrize("out", ["/proc/out", "file.txt/out"])
def test_unwritable_out_fails_at_once_before_the_network_is_looked_at(tmp_path, capsys, out):
    (tmp_path / "file.txt").write_text("a file")
    began = time.perf_counter()
    assert make("fig2", "--model", tmp_path / "missing.pt", "--out",
                out if out.startswith("/") else tmp_path / out, *TINY) == 2
    seconds = time.perf_counter() - began
    err = capsys.readouterr().err
    assert err.startswith("error: --out") and err.count("\n") == 1
    print(f"unwritable --out refused in {seconds:.3f} s")  # well under a second; not asserted


def test_an_unexpected_error_keeps_its_traceback_in_stderr_and_the_record(tmp_path, small_vgg,
                                                                          monkeypatch, capsys):
    """A bug in a panel (not bad input) stops the run with its traceback, written to stderr and
    into the panel's record (status failed), which is never reused."""
    from reproduce.figures import execute
    from reproduce.figures.make import PanelCrashed

    def broken(config, net=None, progress=True):
        raise ZeroDivisionError("a bug deep in the transfer")

    monkeypatch.setattr(execute, "run_transfer", broken)
    out = tmp_path / "out"
    with pytest.raises(PanelCrashed, match=r"^arxiv/fig2/tubingen_shipwreck: ZeroDivisionError: a bug"):
        load_script("make_figures").main(["fig2", "--model", str(small_vgg), "--out", str(out),
                                          *TINY])
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "in broken" in err
    record = json.loads((out / "arxiv" / "fig2" / "tubingen_shipwreck.json").read_text())
    assert record["status"] == "failed" and "completed" not in record
    assert record["error"] == "ZeroDivisionError: a bug deep in the transfer"
    assert "in broken" in record["traceback"]


def test_bad_input_in_a_panel_is_one_line_without_a_traceback(tmp_path, small_vgg, monkeypatch,
                                                             capsys):
    from reproduce.errors import ReproduceError
    from reproduce.figures import execute

    def refused(config, net=None, progress=True):
        raise ReproduceError("the painting is unreadable")

    monkeypatch.setattr(execute, "run_transfer", refused)
    out = tmp_path / "out"
    assert make("fig2", "--model", small_vgg, "--out", out, *TINY) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == ("error: arxiv/fig2/tubingen_shipwreck: the painting is "
                                    "unreadable")
    assert "Traceback" not in err
    record = json.loads((out / "arxiv" / "fig2" / "tubingen_shipwreck.json").read_text())
    assert record["status"] == "failed" and record["traceback"] is None


def children(pid):
    """The pids whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def alive(pid):
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_workers_die_with_their_driver_and_write_nothing_after(tmp_path, small_vgg):
    """kill -9 of make_figures.py --jobs 2: its worker processes end with it (the kernel's
    parent-death signal), and no panel is written after the driver is gone."""
    out = tmp_path / "out"
    process = start("fig2", "--model", small_vgg, "--out", out, "--jobs", 2, "--quick",
                    "--size", "32", "--iterations", "40")
    wait_for(process, "started on cpu")
    workers = [pid for pid in children(process.pid)  # the pool's, not its resource tracker
               if "spawn_main" in open(f"/proc/{pid}/cmdline").read()]
    assert len(workers) >= 2, workers
    process.kill()
    process.wait(timeout=10)
    written = sorted(p.name for p in out.rglob("*") if p.is_file())
    deadline = time.monotonic() + 2  # the kernel's SIGKILL, and a busy machine's reaping
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in workers)  # without the fix they rendered on for seconds
    time.sleep(5)  # long enough for every panel of this run: none may appear
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == written
    assert not [name for name in written if name.endswith(".json")]  # no record vouches
