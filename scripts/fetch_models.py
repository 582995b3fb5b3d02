#!/usr/bin/env python3
"""Fetch the Caffe model files listed in models/manifest.json: the VGG-19 deploy prototxt, the
VGG-19 caffemodel (548 MiB) and Gatys' normalised VGG-19 (vgg_normalised.caffemodel).

Each file is downloaded to NAME.part from the first of its addresses that serves it (an
interrupted download resumes there on the next run), checked against the manifest's size, md5
and sha256 where known (a caffemodel without a checksum must parse whole and hold the layers the
manifest names), and only then renamed into place; a file already in place is verified instead.
Without network, download the files elsewhere and pass the folder that holds them with
--from DIR: they are copied and checked the same way.
"""
import argparse
import math
import sys

from reproduce.caffe.fetch import MANIFEST, MODELS, TIMEOUT, fetch, read_manifest, select
from reproduce.errors import ReproduceError, run_main
from reproduce.files import check_writable_folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", default=MODELS,
                        help="folder to put the files in (default: %(default)s)")
    parser.add_argument("--from", dest="source", metavar="DIR",
                        help="copy the files from this folder instead of downloading them")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME",
                        help="fetch only these files (names as in the manifest)")
    parser.add_argument("--manifest", default=MANIFEST,
                        help="manifest to read (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT,
                        help="seconds to wait for a connection or data (default: %(default)s)")
    args = parser.parse_args(argv)
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise ReproduceError(f"--timeout {args.timeout}: must be a positive number of seconds")
    entries = select(read_manifest(args.manifest), args.only)
    check_writable_folder(args.dest, "--dest")
    for entry in entries:
        path, done, got = fetch(entry, args.dest, args.source, args.timeout)
        print(f"ok   {path} ({done}; {got['size']:,} bytes)")
        if entry.sha256 is None:
            print(f"     sha256 {got['sha256']} (not in the manifest: add it to pin this file)")


if __name__ == "__main__":
    sys.exit(run_main(main))
