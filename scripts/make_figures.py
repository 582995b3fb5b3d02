#!/usr/bin/env python3
"""Regenerate the papers' figures, each paper's numbered as that paper numbers them (arXiv: fig1,
fig2, fig3; CVPR: fig1, fig3, fig4, fig5, fig6, fig7; the 2017 controls paper: fig2, fig4, fig5),
from the tables in reproduce/figures/, or the panels of a grid file (--grid FILE).

Writes, under OUT/<paper>/: every panel as <figure>/<panel>.png with its record <panel>.json,
the figure in the paper's layout as <figure>.png and <figure>.pdf, its convergence plot
<figure>_losses.png and .pdf (every panel's losses at every iteration), and its manifest
<figure>.json; a grid's panels go under OUT/grids/<file stem>/, its figures and manifest beside
them. Panels done before with the same parameters and model are reused; --force renders them
again. --ray renders the panels on a Ray cluster (docs/cluster.md). Ctrl-C or SIGTERM stops the
whole run (exit 130 or 143); run again to continue.
"""
import argparse
import dataclasses
import pathlib
import subprocess
import sys

from reproduce.errors import ReproduceError, run_main
from reproduce.figures import (
    CAFFEMODEL,
    FIGURE_NAMES,
    MODEL,
    PAPER_FIGURES,
    PAPERS,
    PRESETS,
    PROTOTXT,
    figure,
    make_figures,
    require_model,
)
from reproduce.figures.execute import ray_backend
from reproduce.figures.grid_figure import grid_model
from reproduce.figures.make import make_grid
from reproduce.files import ROOT, check_writable_folder
from reproduce.network import configure_runtime, default_device
from reproduce.network.convert import convert
from reproduce.run.flags import add_config_flags
from reproduce.run.grid import MAX_PANELS, load_grid

SETTINGS = ("optimiser", "precision")  # TransferConfig fields this command line sets for every panel
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


def check_combination(args, preset):
    """Numbers out of range and options that do not go together, refused before any work."""
    if min(preset.size, preset.iterations, args.jobs, args.max_panels) < 1:
        raise ReproduceError("--size, --iterations, --jobs and --max-panels must be positive")
    if args.grid and (args.figure or args.paper or args.data):
        raise ReproduceError("--grid renders the grid file's panels: leave out the figure, "
                             "--paper and --data")
    if args.ray is not None and args.jobs != 1:
        raise ReproduceError("--jobs is for one machine; with --ray the cluster runs the panels")
    if args.cpus_per_panel is not None and (args.ray is None or args.cpus_per_panel < 1):
        raise ReproduceError("--cpus-per-panel takes a positive number, with --ray")
    if args.figure not in (None, "all"):
        figure(args.figure, args.paper or "arxiv", preset)  # one line if the paper has none


def ray_cluster(address, cpus_per_panel):
    """The backend of the Ray cluster at `address` (connected now), or None without --ray."""
    if address is None:
        return None
    from reproduce.run import cluster  # Ray is optional: imported only for --ray
    cluster.connect(address)
    return ray_backend(cpus_per_panel, progress=sys.stderr.isatty())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("figure", nargs="?", choices=[*FIGURE_NAMES, "all"],
                        help="the figure to render, as the paper numbers it (default all: the "
                             "paper's result figures, arXiv fig1-fig3, CVPR fig1 and fig3-fig7, "
                             "2017 fig2, fig4, fig5; colour, the 2016 note's colour preservation, "
                             "and textures, the loss study, only when named)")
    parser.add_argument("--paper", choices=PAPERS,
                        help="paper whose figures and values to use: the 2015 paper's arxiv or "
                             "cvpr version, or 2017, the controls paper (default arxiv)")
    parser.add_argument("--grid", type=pathlib.Path, metavar="FILE",
                        help="render the panels of a grid file (TOML; data/grids/fig3.toml) "
                             "instead of the paper's figures")
    parser.add_argument("--model", type=pathlib.Path, default=MODEL,
                        help=f"converted network (default {MODEL.relative_to(ROOT)})")
    parser.add_argument("--out", default=str(ROOT / "results"),
                        help="output folder (default results/)")
    parser.add_argument("--size", type=int,
                        help="long side of every panel in px (overrides the preset)")
    parser.add_argument("--iterations", type=int, help="L-BFGS-B iterations (overrides the preset)")
    parser.add_argument("--device", default=default_device(),
                        help="cpu or cuda (default: cuda when torch sees one, else cpu)")
    add_config_flags(parser, "transfer", only=SETTINGS)
    parser.add_argument("--jobs", type=int, default=1,
                        help="panels rendered in parallel: processes on CPU, one per GPU")
    parser.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                        help="render the panels on a Ray cluster: auto (RAY_ADDRESS or a local "
                             "`ray start`; the default), local (a private one on this machine) "
                             "or HOST:PORT; needs pip install -e '.[ray]'")
    parser.add_argument("--cpus-per-panel", type=int, metavar="N",
                        help="with --ray on a cluster without GPUs: CPU threads each panel "
                             "holds (default 4, or the largest node's CPUs if fewer)")
    parser.add_argument("--quick", action="store_true",
                        help=f"quick preset ({PRESETS['quick'].size} px, "
                             f"{PRESETS['quick'].iterations} iterations) instead of the paper's "
                             f"setting ({PRESETS['full'].size} px, {PRESETS['full'].iterations})")
    parser.add_argument("--data", action="append", default=[], metavar="DIR",
                        help="folder holding inputs not shipped (seated-nude.jpg; for the CVPR "
                             "paper cottage.jpg, jesuiten_iii.jpg, london_day.jpg, "
                             "new_york_night.jpg; for 2017 the authors' fig2_content.jpg, ...: "
                             "data/README.md)")
    parser.add_argument("--force", action="store_true", help="render panels done before again")
    parser.add_argument("--max-panels", type=int, default=MAX_PANELS, metavar="N",
                        help="with --grid: refuse a grid of more panels than this "
                             "(default: %(default)s)")
    parser.add_argument("--fetch", action="store_true",
                        help="download and convert the VGG-19 if it is missing")
    args = parser.parse_args(argv)
    preset = preset_from(args)
    check_combination(args, preset)
    check_writable_folder(args.out, "--out")  # before any download, network or panel
    grid = load_grid(args.grid, args.max_panels) if args.grid else None
    model = grid_model(grid, args.model) if grid else args.model
    if not args.fetch:
        require_model(model)  # before a cluster is started
    configure_runtime(args.device)  # checks the device too
    backend = ray_cluster(args.ray, args.cpus_per_panel)
    ensure_model(model, args.fetch)
    common = dict(device=args.device, jobs=args.jobs, force=args.force,
                  settings={name: getattr(args, name) for name in SETTINGS
                            if getattr(args, name) is not None}, backend=backend)
    if grid:
        manifests = [make_grid(grid, preset, args.out, model, **common)]
    else:
        paper = args.paper or "arxiv"
        names = list(PAPER_FIGURES[paper]) if args.figure in (None, "all") else [args.figure]
        manifests = make_figures(names, paper, preset, args.out, model, data_dirs=args.data,
                                 **common)
    for manifest in manifests:
        print(f"wrote {manifest['files']['png']['file']} and .pdf "
              f"({manifest['caption'].splitlines()[-1]})")


if __name__ == "__main__":
    sys.exit(run_main(main))
