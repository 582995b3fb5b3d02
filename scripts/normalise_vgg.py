#!/usr/bin/env python3
"""Normalise a converted VGG network (CVPR version of the paper): rescale every conv filter so
that its mean activation over the images in a folder, and all positions, is one.

Writes MODEL_NORM.onnx (a network file for `reproduce.network.load.load_network`) and its record
MODEL_NORM.json: the source's checksum, the images used and every layer's means. Filters that never fire on
the images are left unscaled and reported as warnings.
"""
import argparse
import sys

from reproduce.errors import run_main
from reproduce.files import check_output_file
from reproduce.network import configure_runtime, default_device
from reproduce.network.normalise import dead_filters, normalise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="network file from scripts/convert_caffe.py (--until pool5)")
    parser.add_argument("--images", required=True, metavar="DIR",
                        help="folder of .jpg/.png images to average over")
    parser.add_argument("--out", required=True, metavar="MODEL_NORM.onnx", help="network file to write")
    parser.add_argument("--size", type=int, default=256,
                        help="long side of each image in pixels (default: %(default)s)")
    parser.add_argument("--device", default=default_device(),
                        help="cpu or cuda (default: cuda when torch sees one, else cpu)")
    args = parser.parse_args(argv)
    check_output_file(args.out, "--out", (".onnx",))
    configure_runtime(args.device)
    paths, means = normalise(args.model, args.images, args.out, args.size, args.device)
    for conv, channels in dead_filters(means).items():
        print(f"warning: {conv}: {len(channels)} filter(s) never fire on these images, left "
              f"unscaled: channels {', '.join(map(str, channels))}", file=sys.stderr)
    for kind, path in paths.items():
        print(f"wrote {kind:5s} {path}")


if __name__ == "__main__":
    sys.exit(run_main(main))
