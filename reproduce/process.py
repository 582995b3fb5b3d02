"""This process: its peak memory, and (on Linux) ending with the process that started it."""
import resource
import sys


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far, in bytes (ru_maxrss is KiB on Linux, bytes
    on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024
