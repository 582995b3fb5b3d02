#!/usr/bin/env python3
"""Convert a Caffe model (deploy prototxt + caffemodel) into a network file.

Writes DIR/NAME.onnx (the network: a standard ONNX model whose outputs are named after the Caffe
blobs; what `reproduce.network.load.load_network` reads) and then DIR/NAME.json (its record: checksums
of the sources and of NAME.onnx, the layer list, opset and library versions).
"""
import argparse
import sys

from reproduce.errors import run_main
from reproduce.files import check_writable_folder
from reproduce.network.convert import convert


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prototxt", help="deploy prototxt (old V1 `layers` or new `layer` format)")
    parser.add_argument("caffemodel", help="binary caffemodel with the weights, matched by layer name")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--name", help="artifact name (default: the caffemodel's file name)")
    parser.add_argument("--until", metavar="LAYER",
                        help="stop the graph after this layer (e.g. pool5: no fc layers, any input size)")
    args = parser.parse_args(argv)
    check_writable_folder(args.out, "--out")
    paths = convert(args.prototxt, args.caffemodel, args.out, args.name, args.until)
    for kind, path in paths.items():
        print(f"wrote {kind:5s} {path}")


if __name__ == "__main__":
    sys.exit(run_main(main))
