#!/usr/bin/env python3
"""Time and peak memory of reading a full-size VGG-19 caffemodel.

Writes a synthetic caffemodel with the shapes of the real deploy prototxt (conv1_1 ... fc8,
random float32, legacy num/channels/height/width dims and 1×1-padded fc blobs like the 2014
file, about 548 MiB), then reads it in a fresh process for each step:

- read_caffemodel: protobuf parses the file (the weight payloads stay bytes);
- read_net: the same plus the deploy graph, every blob viewed as a float32 array and checked.

and prints the seconds, the peak resident memory (ru_maxrss) and how far it grew during the
step, against the file size. `--caffemodel FILE` measures an existing file instead (such as the
real VGG_ILSVRC_19_layers.caffemodel).
"""
import argparse
import json
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from reproduce.caffe import read_caffemodel, read_net, read_prototxt
from reproduce.caffe_schema import NetParameter

MODELS = pathlib.Path(__file__).resolve().parents[1] / "models"
DEPLOY = MODELS / "VGG_ILSVRC_19_layers_deploy.prototxt"
REAL_SIZE = 574_671_192   # bytes of the published VGG_ILSVRC_19_layers.caffemodel
STEPS = {"read_caffemodel": lambda prototxt, caffemodel: read_caffemodel(caffemodel),
         "read_net": read_net}
MIB = 1 << 20


def weight_shapes(graph):
    """{layer: [weight dims, bias dims]} in legacy 4-D form for each conv and fc layer of a V1
    deploy net, from its input size (conv: floor rule; pool: Caffe's ceil rule, unpadded as in
    VGG)."""
    _, channels, height, width = graph.input_dim
    features = None   # fc inputs once the net is flat
    shapes = {}
    for layer in graph.layers:
        kind = type(layer).LayerType.Name(layer.type)
        if kind == "CONVOLUTION":
            p = layer.convolution_param
            k, pad, stride = p.kernel_size[0], (list(p.pad) or [0])[0], (list(p.stride) or [1])[0]
            shapes[layer.name] = [(p.num_output, channels, k, k), (1, 1, 1, p.num_output)]
            channels = p.num_output
            height, width = ((s + 2 * pad - k) // stride + 1 for s in (height, width))
        elif kind == "POOLING":
            p = layer.pooling_param
            height, width = (-(-(s - p.kernel_size) // p.stride) + 1 for s in (height, width))
        elif kind == "INNER_PRODUCT":
            n_in = features or channels * height * width
            n_out = layer.inner_product_param.num_output
            shapes[layer.name] = [(1, 1, n_out, n_in), (1, 1, 1, n_out)]
            features = n_out
    return shapes


def write_synthetic(prototxt, path, seed=0):
    """A caffemodel with every layer of the deploy net and random float32 weights."""
    graph = read_prototxt(prototxt)
    shapes = weight_shapes(graph)
    rng = np.random.default_rng(seed)
    net = NetParameter(name=graph.name)
    for layer in graph.layers:
        saved = net.layers.add(name=layer.name, type=layer.type, bottom=layer.bottom, top=layer.top)
        for dims in shapes.get(layer.name, []):
            blob = saved.blobs.add(num=dims[0], channels=dims[1], height=dims[2], width=dims[3])
            blob.data = rng.standard_normal(np.prod(dims), dtype=np.float32).astype("<f4").tobytes()
    path.write_bytes(net.SerializeToString())


def peak_rss():
    """This process's peak resident memory in bytes (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def measure(step, prototxt, caffemodel):
    """Run one step here and print {seconds, before, peak} as JSON (called in a fresh process)."""
    before = peak_rss()
    start = time.perf_counter()
    STEPS[step](prototxt, caffemodel)
    seconds = time.perf_counter() - start
    print(json.dumps(dict(seconds=seconds, before=before, peak=peak_rss())))


def in_fresh_process(*args):
    """Run this script with `args` in a new process; its stdout. ru_maxrss carries over from
    the parent at fork, so the parent never holds the weights itself."""
    return subprocess.run([sys.executable, __file__, *map(str, args)], capture_output=True,
                          text=True, check=True).stdout


def report(prototxt, caffemodel):
    size = caffemodel.stat().st_size
    print(f"{caffemodel}: {size:,} bytes ({size / MIB:.1f} MiB; the published VGG-19 file "
          f"has {REAL_SIZE:,})")
    print(f"{'step':16s} {'seconds':>8s} {'peak RSS':>10s} {'grew by':>10s} {'grew / file':>12s}")
    for step in STEPS:
        m = json.loads(in_fresh_process("--measure", step, "--prototxt", prototxt,
                                        "--caffemodel", caffemodel))
        grew = m["peak"] - m["before"]
        print(f"{step:16s} {m['seconds']:8.2f} {m['peak'] / MIB:6.0f} MiB {grew / MIB:6.0f} MiB "
              f"{grew / size:12.2f}")
    print(f"(peak RSS before the step, after imports: {m['before'] / MIB:.0f} MiB)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prototxt", type=pathlib.Path, default=DEPLOY,
                        help="deploy prototxt (default: the VGG-19 one in models/)")
    parser.add_argument("--caffemodel", type=pathlib.Path,
                        help="measure this file instead of writing a synthetic one")
    parser.add_argument("--measure", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--write", type=pathlib.Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        measure(args.measure, args.prototxt, args.caffemodel)
    elif args.write:
        write_synthetic(args.prototxt, args.write)
    elif args.caffemodel:
        report(args.prototxt, args.caffemodel)
    else:
        with tempfile.TemporaryDirectory() as folder:
            caffemodel = pathlib.Path(folder) / "vgg19_synthetic.caffemodel"
            start = time.perf_counter()
            in_fresh_process("--prototxt", args.prototxt, "--write", caffemodel)
            print(f"wrote a synthetic VGG-19 in {time.perf_counter() - start:.1f} s")
            report(args.prototxt, caffemodel)


if __name__ == "__main__":
    main()
