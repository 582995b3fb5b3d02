#!/usr/bin/env python3
"""Peak memory of loading a huge image at a small size (load_image with a long side).

Writes a SIDE×SIDE RGB PNG of smooth gradients (small on disk: 12000×12000 is about 2 MB), then
loads it at `--long-side` in a fresh process and prints the peak resident memory, how far it
grew during the load, the bound asked for (1.5 GB at 12000×12000, long side 32), and
the size a full-resolution float32 copy of the image alone would have had.
"""
import argparse
import pathlib
import subprocess
import sys
import tempfile

from PIL import Image

from reproduce.errors import run_main

MIB = 1 << 20
BOUND_MB = 1500   # MiB: the bound on the peak of a 12000×12000 PNG loaded at long side 32 (issue 9)
MEASURE = """
import sys
from reproduce.image import load_image

def kib(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))

before = kib("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")   # the peak (VmHWM) starts again from what is resident now
image = load_image(sys.argv[1], int(sys.argv[2]), max_pixels=int(sys.argv[3]))
print(*image.shape, before, kib("VmHWM"))
"""


def write_smooth_png(path, side):
    """A side×side RGB PNG: a horizontal, a vertical and a flipped gradient (fast to write)."""
    gradient = Image.linear_gradient("L").resize((side, side), Image.Resampling.NEAREST)
    Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_90),
                        gradient.transpose(Image.Transpose.FLIP_TOP_BOTTOM))).save(
        path, compress_level=1)


def peak_mb(path, long_side, max_pixels):
    """(shape, MiB resident after the imports, peak MiB) of load_image in a fresh process. The peak
    is the process's own high-water mark (VmHWM, reset after the imports): ru_maxrss would carry
    over the parent's peak, as Linux keeps it across fork and exec."""
    run = subprocess.run([sys.executable, "-c", MEASURE, str(path), str(long_side),
                          str(max_pixels)], capture_output=True, text=True, check=True)
    *shape, before, after = (int(v) for v in run.stdout.split())
    return tuple(shape), before / 1024, after / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=12000, help="image side in px (12000)")
    parser.add_argument("--long-side", type=int, default=32, help="size to load at (32)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "big.png"
        write_smooth_png(path, args.side)   # in this process: the load is measured in another
        shape, before, peak = peak_mb(path, args.long_side, args.side ** 2)
        disk = path.stat().st_size / MIB
    float_copy = args.side ** 2 * 3 * 4 / MIB
    print(f"{args.side}×{args.side} PNG ({disk:.1f} MiB on disk) at long side "
          f"{args.long_side}: shape {shape}")
    print(f"peak {peak:.0f} MiB (after imports {before:.0f} MiB, grew {peak - before:.0f} MiB); "
          f"bound {BOUND_MB} MiB: {peak / BOUND_MB:.2f}× the bound")
    print(f"a full-resolution float32 copy alone: {float_copy:.0f} MiB "
          f"({float_copy / max(peak - before, 1):.1f}× what the load grew)")


if __name__ == "__main__":
    sys.exit(run_main(main))
