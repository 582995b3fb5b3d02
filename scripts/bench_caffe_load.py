#!/usr/bin/env python3
"""Time and peak memory of reading and converting a full-size VGG-19 caffemodel, and of loading
the converted network.

Writes a synthetic caffemodel with the shapes of the real deploy prototxt (conv1_1 ... fc8,
random float32 weights, the 2014 file's layout, about 548 MiB; reproduce/caffe_synthetic.py),
then runs each step in a fresh process:

- read file: read the caffemodel's bytes once (the limit any reader has to pay);
- read_net: map the caffemodel, view and check every blob of the whole graph;
- convert pool5: scripts/convert_caffe.py --until pool5 (the conv part, what the style work uses);
- convert all: the whole graph, fc layers included;
- load pool5: load_network of the converted conv part (ONNX -> torch);

and prints the seconds its imports took, then wall seconds, user and system CPU seconds of the
step, and the peak resident memory of the process (ru_maxrss, imports included), also as a
multiple of the caffemodel's size. `--caffemodel FILE` measures an existing file
instead (such as the real VGG_ILSVRC_19_layers.caffemodel).
"""
import argparse
import json
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

from reproduce.caffe.synthetic import write_random_caffemodel
from reproduce.errors import run_main
from reproduce.files import ROOT
from reproduce.process import peak_rss_bytes

MODELS = ROOT / "models"
DEPLOY = MODELS / "VGG_ILSVRC_19_layers_deploy.prototxt"
REAL_SIZE = 574_671_192   # bytes of the published VGG_ILSVRC_19_layers.caffemodel
MIB = 1 << 20


# Each step imports what it needs (untimed, as the command line would) and returns the work to
# time; imports are timed apart, as "imports".
def read_file(prototxt, caffemodel, folder):
    def run():
        with open(caffemodel, "rb") as f:
            while f.read(1 << 24):
                pass
    return run


def whole_net(prototxt, caffemodel, folder):
    from reproduce.caffe.net import read_net
    return lambda: read_net(prototxt, caffemodel)


def convert_pool5(prototxt, caffemodel, folder):
    from reproduce.network.convert import convert  # what scripts/convert_caffe.py imports
    return lambda: convert(prototxt, caffemodel, folder, name="pool5", until="pool5")


def convert_all(prototxt, caffemodel, folder):
    from reproduce.network.convert import convert
    return lambda: convert(prototxt, caffemodel, folder, name="all")


def load_pool5(prototxt, caffemodel, folder):
    from reproduce.network import load_network
    return lambda: load_network(pathlib.Path(folder) / "pool5.onnx")


STEPS = {"read file": read_file, "read_net": whole_net, "convert pool5": convert_pool5,
         "convert all": convert_all, "load pool5": load_pool5}


def measure(step, prototxt, caffemodel, folder):
    """Run one step here and print as JSON the seconds of its imports, then its wall, user and
    system seconds, and the peak RSS (imports included)."""
    start = time.perf_counter()
    run = STEPS[step](prototxt, caffemodel, folder)
    imports = time.perf_counter() - start
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    run()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps(dict(imports=imports, wall=wall, user=after.ru_utime - before.ru_utime,
                          system=after.ru_stime - before.ru_stime, peak=peak_rss_bytes())))


def in_fresh_process(*args):
    """Run this script with `args` in a new process; its stdout. ru_maxrss carries over from
    the parent at fork, so the parent never holds the weights itself."""
    return subprocess.run([sys.executable, __file__, *map(str, args)], capture_output=True,
                          text=True, check=True).stdout


def report(prototxt, caffemodel, folder):
    size = caffemodel.stat().st_size
    print(f"{caffemodel}: {size:,} bytes ({size / MIB:.1f} MiB; the published VGG-19 file "
          f"has {REAL_SIZE:,})")
    print(f"{'step':14s} {'imports s':>9s} {'wall s':>7s} {'user s':>7s} {'sys s':>7s} {'peak RSS':>10s} "
          f"{'peak / file':>12s}")
    for step in STEPS:
        m = json.loads(in_fresh_process("--measure", step, "--prototxt", prototxt,
                                        "--caffemodel", caffemodel, "--folder", folder))
        print(f"{step:14s} {m['imports']:9.2f} {m['wall']:7.2f} {m['user']:7.2f} {m['system']:7.2f} "
              f"{m['peak'] / MIB:6.0f} MiB {m['peak'] / size:12.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prototxt", type=pathlib.Path, default=DEPLOY,
                        help="deploy prototxt (default: the VGG-19 one in models/)")
    parser.add_argument("--caffemodel", type=pathlib.Path,
                        help="measure this file instead of writing a synthetic one")
    parser.add_argument("--measure", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=pathlib.Path, help=argparse.SUPPRESS)
    parser.add_argument("--write", type=pathlib.Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        measure(args.measure, args.prototxt, args.caffemodel, args.folder)
        return
    if args.write:
        write_random_caffemodel(args.prototxt, args.write)
        return
    with tempfile.TemporaryDirectory() as folder:
        caffemodel = args.caffemodel
        if caffemodel is None:
            caffemodel = pathlib.Path(folder) / "vgg19_synthetic.caffemodel"
            start = time.perf_counter()
            in_fresh_process("--prototxt", args.prototxt, "--write", caffemodel)
            print(f"wrote a synthetic VGG-19 in {time.perf_counter() - start:.1f} s")
        report(args.prototxt, caffemodel, pathlib.Path(folder))


if __name__ == "__main__":
    sys.exit(run_main(main))
