#!/usr/bin/env python3
"""Compare rendered panels with reference images, pairing them by file name.

For each pair: a side-by-side image (result | reference | absolute difference), PSNR and SSIM
after resizing to a common size, and the paper's measures with the VGG network (style distance
Σ w_l E_l, content distance at conv4_2). Writes REPORT_DIR/report.md and report.json, all
files of the report as one set. REPORT_DIR may not be, lie inside or hold a compared folder.
With --fail-above, exits 1 when a pair's distance is above its bound.
"""
import argparse
import pathlib
import sys

from reproduce.errors import EXIT_FAILED_COMPARISON, EXIT_OK, run_main
from reproduce.figures import MODEL, require_model
from reproduce.figures.diff import DISTANCES, check_report_folder, diff_folders, parse_bounds
from reproduce.files import ROOT
from reproduce.network import load_network


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="folder of rendered panels (e.g. results/arxiv/fig2)")
    parser.add_argument("reference", help="folder of reference images with the same names")
    parser.add_argument("--out", required=True, help="report folder")
    parser.add_argument("--model", type=pathlib.Path, default=MODEL,
                        help=f"converted network (default {MODEL.relative_to(ROOT)})")
    parser.add_argument("--fail-above", action="append", default=[],
                        metavar="METRIC=VALUE",
                        help=f"exit 1 if a pair's {' or '.join(DISTANCES)} distance is above VALUE")
    args = parser.parse_args(argv)
    limits = parse_bounds(args.fail_above)  # every check before the network loads
    check_report_folder(args.out, args.results, args.reference)
    require_model(args.model)
    net = load_network(args.model, pooling="avg")
    report = diff_folders(args.results, args.reference, args.out, net, args.model, limits)
    print(f"compared {len(report['pairs'])} pairs; wrote {pathlib.Path(args.out) / 'report.md'}")
    for why in report["skipped"].values():
        print(f"skipped: {why}", file=sys.stderr)
    for name, pair in report["pairs"].items():
        if pair["note"]:
            print(f"note: {name}: {pair['note']}", file=sys.stderr)
    for failure in report["failures"]:
        print(f"above bound: {failure['name']} {failure['metric']} {failure['value']:.4g} > "
              f"{failure['limit']:g}", file=sys.stderr)
    return EXIT_FAILED_COMPARISON if report["failures"] else EXIT_OK


if __name__ == "__main__":
    sys.exit(run_main(main))
