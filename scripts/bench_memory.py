#!/usr/bin/env python3
"""Peak memory of a transfer against the image's size, and the estimate that plans it;
docs/performance.md ("Memory") records the results.

For each size (the long side of the paper's Fig. 2 pair, Tübingen and The Starry Night) and each
--recompute setting, a fresh process runs `transfer` for --iterations L-BFGS-B iterations (the
default fills all 20 of its curvature pairs) with the command line's own settings, and reports
its peak: on the CPU the resident set (ru_maxrss, imports and the network included), on CUDA
the most torch allocated. Beside it, the estimate reproduce.run.memory made before the work,
and their ratio. Then, per setting, the slope: memory per further megapixel, a least-squares
line through the peaks against the pixel count.

Without --model, a VGG-19 with the layer shapes of models/VGG_ILSVRC_19_layers_deploy.prototxt and
seeded random weights is written and converted into a temporary folder: memory does not depend
on the weights' values.
"""
import argparse
import json
import subprocess
import sys
import tempfile

import numpy as np

from reproduce.errors import run_main
from reproduce.files import write_json
from reproduce.network import RECOMPUTE, default_device
from reproduce.optim import OPTIMISERS

GB = 1e9  # the and docs/performance.md's unit
CONTENT, STYLE = "data/inputs/tubingen.jpg", "data/inputs/starry_night.jpg"
POOLING = "avg"  # as in the paper's figures


def measure(model: str, size: int, recompute: str, optimiser: str, iterations: int,
            device: str) -> dict:
    """One transfer in this process; its shape, peak and the estimate (what --child prints)."""
    import os

    import torch

    from reproduce.network import configure_runtime, load_network
    from reproduce.process import peak_rss_bytes
    from reproduce.run.config import TransferConfig
    from reproduce.run.prepare import prepare_images
    from reproduce.run.transfer import run_transfer

    configure_runtime(device)
    net = load_network(model, pooling=POOLING, device=device)
    with tempfile.TemporaryDirectory() as folder:
        config = TransferConfig(content=CONTENT, styles=(STYLE,), size=size, model=model,
                                pooling=POOLING, iterations=iterations, optimiser=optimiser,
                                device=device, recompute=recompute,
                                output=os.path.join(folder, "out.png"))
        if torch.device(device).type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        summary = run_transfer(config, net, progress=False)
        peak = torch.cuda.max_memory_allocated(device) if torch.device(device).type == "cuda" \
            else peak_rss_bytes()
    estimate = summary.memory  # the plan the run went with (reproduce.run.memory)
    assert estimate is not None
    shape = prepare_images(config)[2]
    return dict(size=size, shape=list(shape), pixels=shape[0] * shape[1], recompute=recompute,
                recomputed=estimate["recompute"], iterations=summary.iterations,
                peak_gb=peak / GB, estimate_gb=estimate["total"] / GB,
                parts_gb={part: estimate[part] / GB
                          for part in ("process", "evaluation", "optimiser")})


def slope(rows: list[dict]) -> float | None:
    """GB per further megapixel: the least-squares line through (pixels, peak); None for fewer
    than two sizes."""
    if len(rows) < 2:
        return None
    pixels = np.array([r["pixels"] for r in rows]) / 1e6
    return float(np.polyfit(pixels, [r["peak_gb"] for r in rows], 1)[0])


def format_table(rows: list[dict]) -> str:
    lines = [f"{'size':>5} {'shape':>11} {'recompute':>10} {'peak GB':>8} {'estimate GB':>12} "
             f"{'estimate/peak':>14}"]
    for r in rows:
        setting = f"{r['recompute']}→{'on' if r['recomputed'] else 'off'}" \
            if r["recompute"] == "auto" else r["recompute"]
        lines.append(f"{r['size']:>5} {'×'.join(map(str, r['shape'])):>11} {setting:>10} "
                     f"{r['peak_gb']:>8.2f} {r['estimate_gb']:>12.2f} "
                     f"{r['estimate_gb'] / r['peak_gb']:>14.2f}")
    return "\n".join(lines)


def sizes(text: str) -> list[int]:
    try:
        values = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated sizes, not {text!r}") from None
    if min(values) <= 0:
        raise argparse.ArgumentTypeError("sizes must be positive")
    return values


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=sizes, default=[256, 512, 768, 1024],
                        help="long sides in pixels, comma-separated (default: 256,512,768,1024)")
    parser.add_argument("--recompute", default="off,on",
                        help=f"--recompute settings to measure, comma-separated, of "
                             f"{', '.join(RECOMPUTE)} (default: off,on)")
    parser.add_argument("--optimiser", choices=tuple(OPTIMISERS), default="scipy",
                        help="the L-BFGS-B to run (default: scipy)")
    parser.add_argument("--iterations", type=int, default=22,
                        help="iterations per run (default: 22, all 20 pairs in memory)")
    parser.add_argument("--device", default=default_device(),
                        help="cpu or cuda (default: cuda when torch sees one, else cpu)")
    parser.add_argument("--model", help="network file (default: a random-weight VGG-19)")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one measurement, as JSON
    args = parser.parse_args(argv)
    settings = args.recompute.split(",")
    if set(settings) - set(RECOMPUTE):
        parser.error(f"--recompute: each of {', '.join(RECOMPUTE)}, not {args.recompute!r}")
    if args.child:
        size, recompute = args.child.split(":")
        print(json.dumps(measure(args.model, int(size), recompute, args.optimiser,
                                 args.iterations, args.device)))
        return
    with tempfile.TemporaryDirectory() as folder:
        if args.model is None:
            from bench import random_network  # scripts/bench.py, beside this one
            args.model = str(random_network(folder))
        rows = []
        for recompute in settings:
            for size in args.sizes:
                print(f"{size} px, --recompute {recompute} ...", file=sys.stderr, flush=True)
                child = subprocess.run(
                    [sys.executable, __file__, "--child", f"{size}:{recompute}", "--model",
                     args.model, "--optimiser", args.optimiser, "--iterations",
                     str(args.iterations), "--device", args.device],
                    stdout=subprocess.PIPE, text=True, check=True)
                rows.append(json.loads(child.stdout.splitlines()[-1]))
    print(format_table(rows))
    slopes = {s: slope([r for r in rows if r["recompute"] == s]) for s in settings}
    for setting, value in slopes.items():
        if value is not None:
            print(f"--recompute {setting}: {value:.2f} GB per further megapixel")
    if args.json:
        write_json(args.json, dict(device=args.device, optimiser=args.optimiser,
                                   iterations=args.iterations, results=rows,
                                   gb_per_megapixel=slopes))


if __name__ == "__main__":
    sys.exit(run_main(main))
