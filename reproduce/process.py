"""This process: its peak memory, and ending with the process that started it."""
import ctypes
import os
import resource
import signal
import sys
import threading
import time


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far, in bytes: on Linux its VmHWM, which starts
    afresh when the process execs (ru_maxrss keeps the peak of the process it was forked from:
    a child of a large parent would report the parent's size); elsewhere ru_maxrss (bytes on
    macOS)."""
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024  # kB
    except (OSError, StopIteration):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


PR_SET_PDEATHSIG = 1  # prctl's option: the signal this process gets when its parent ends
WATCH_S = 1.0         # elsewhere, how often a watching thread looks for the parent


def die_with_parent(parent: int) -> None:
    """End this process the moment `parent`, the process that started it, ends: on Linux by the
    kernel's parent-death signal (SIGKILL: nothing more is written), elsewhere by a thread that
    looks for the parent every WATCH_S seconds. A worker must not outlive its driver: it would
    go on writing panels that no driver, and no lock, vouches for."""
    prctl = getattr(ctypes.CDLL(None), "prctl", None) if sys.platform.startswith("linux") else None
    if prctl is not None and prctl(PR_SET_PDEATHSIG, signal.SIGKILL) == 0:
        if os.getppid() != parent:  # the parent ended before the signal was asked for
            os._exit(1)
        return
    threading.Thread(target=_watch, args=(parent,), daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_S)
    os._exit(1)
