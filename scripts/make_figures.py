#!/usr/bin/env python3
"""Regenerate the paper's figures (numbered as in the arXiv paper) from the tables in
reproduce/figures.py.

Writes, under OUT/<paper>/: every panel as <figure>/<panel>.png with its record <panel>.json,
the figure in the paper's layout as <figure>.png and <figure>.pdf, and its manifest
<figure>.json. Panels done before with the same parameters and model are reused; --force renders
them again. Ctrl-C or SIGTERM stops the whole run (exit 130 or 143); run again to continue.
"""
import argparse
import dataclasses
import pathlib
import subprocess
import sys

from reproduce.convert import convert
from reproduce.errors import ReproduceError, run_main
from reproduce.figures import (
    CAFFEMODEL,
    FIGURES,
    MODEL,
    PAPER_FIGURES,
    PAPERS,
    PRESETS,
    PROTOTXT,
    make_figures,
    require_model,
)
from reproduce.files import ROOT, check_writable_folder
from reproduce.network import configure_runtime, default_device
from reproduce.transfer import OPTIMISERS

FETCH = [sys.executable, str(ROOT / "scripts" / "fetch_models.py"),
         "--only", PROTOTXT.name, CAFFEMODEL.name]


def fetch_vgg19(model):
    """Download the Caffe VGG-19 (scripts/fetch_models.py) and convert it into `model`."""
    if subprocess.run(FETCH).returncode:
        raise ReproduceError("scripts/fetch_models.py failed; see its messages above")
    convert(PROTOTXT, CAFFEMODEL, model.parent, name=model.stem, until="pool5")


def ensure_model(model, fetch):
    """Fetch and convert the VGG-19 into `model` when it is missing and --fetch asks for it."""
    if fetch and not model.is_file():
        fetch_vgg19(model)
    require_model(model)


def preset_from(args):
    """The full or quick preset, with --size and --iterations overriding it."""
    preset = PRESETS["quick" if args.quick else "full"]
    changes = {k: v for k, v in (("size", args.size), ("iterations", args.iterations))
               if v is not None}
    return dataclasses.replace(preset, **changes)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("figure", nargs="?", default="all", choices=[*FIGURES, "all"])
    parser.add_argument("--paper", default="arxiv", choices=PAPERS,
                        help="paper version whose values to use (default arxiv)")
    parser.add_argument("--model", type=pathlib.Path, default=MODEL,
                        help=f"converted network (default {MODEL.relative_to(ROOT)})")
    parser.add_argument("--out", default=str(ROOT / "results"),
                        help="output folder (default results/)")
    parser.add_argument("--size", type=int,
                        help="long side of every panel in px (overrides the preset)")
    parser.add_argument("--iterations", type=int, help="L-BFGS-B iterations (overrides the preset)")
    parser.add_argument("--device", default=default_device(),
                        help="cpu or cuda (default: cuda when torch sees one, else cpu)")
    parser.add_argument("--optimiser", choices=OPTIMISERS, default="scipy",
                        help="scipy: scipy's L-BFGS-B, as the authors ran it (default); device: "
                             "L-BFGS kept on the device, faster on a GPU")
    parser.add_argument("--jobs", type=int, default=1,
                        help="panels rendered in parallel: processes on CPU, one per GPU")
    parser.add_argument("--quick", action="store_true",
                        help=f"quick preset ({PRESETS['quick'].size} px, "
                             f"{PRESETS['quick'].iterations} iterations) instead of the paper's "
                             f"setting ({PRESETS['full'].size} px, {PRESETS['full'].iterations})")
    parser.add_argument("--data", action="append", default=[], metavar="DIR",
                        help="folder holding inputs not shipped (seated-nude.jpg, Fig. 2 E)")
    parser.add_argument("--force", action="store_true", help="render panels done before again")
    parser.add_argument("--fetch", action="store_true",
                        help="download and convert the VGG-19 if it is missing")
    args = parser.parse_args(argv)
    preset = preset_from(args)
    if min(preset.size, preset.iterations, args.jobs) < 1:
        raise ReproduceError("--size, --iterations and --jobs must be positive")
    check_writable_folder(args.out, "--out")  # before any download, network or panel
    configure_runtime(args.device)  # checks the device too
    ensure_model(args.model, args.fetch)
    names = list(PAPER_FIGURES) if args.figure == "all" else [args.figure]
    for manifest in make_figures(names, args.paper, preset, args.out, args.model, args.device,
                                 args.data, args.jobs, args.force, args.optimiser):
        print(f"wrote {manifest['files']['png']['file']} and .pdf "
              f"({manifest['caption'].splitlines()[-1]})")


if __name__ == "__main__":
    sys.exit(run_main(main))
