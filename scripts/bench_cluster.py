#!/usr/bin/env python3
"""What one panel costs on a Ray cluster, side by side with the same panel run in this process.

For each size, the paper's Fig. 2 pair (Tübingen, The Starry Night) is rendered with a random-
weight full-size VGG-19 (scripts/bench.py's) for --iterations L-BFGS-B iterations: once here with
run_transfer, then --panels times (seeds 0, 1, ...) on a private local Ray cluster, each task
asking for --cpus-per-panel CPU threads. Printed per size: seconds per iteration here and on the
cluster and their ratio, the wall time from submitting the panels to the last one back (worker
start, shipping the network and images, and loading the network included), and the worker's
peak resident memory (so far: it may have run smaller sizes), and the machine's load average
when the size began (other users' work slows both sides). docs/cluster.md records a run and
extrapolates it to the paper's setting.
"""
import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time

import torch
from bench import CONTENT, POOLING, STYLE, random_network, sizes

from reproduce.errors import run_main
from reproduce.network import load_network
from reproduce.run import cluster
from reproduce.run.config import TransferConfig
from reproduce.run.transfer import TransferSummary, run_transfer


def per_iteration(summary: TransferSummary) -> float:
    return summary.seconds / summary.iterations


def bench_size(net, model, size, args, folder):
    config = TransferConfig(content=str(CONTENT), styles=(str(STYLE),), model=str(model),
                            output=os.path.join(folder, f"here{size}.png"), size=size,
                            iterations=args.iterations, pooling=POOLING, device="cpu")
    load = os.getloadavg()[0]
    here = per_iteration(run_transfer(config, net=net, progress=False))
    tasks = [(seed, dataclasses.replace(config, seed=seed, output=os.path.join(
        folder, f"ray{size}_{seed}.png"))) for seed in range(args.panels)]
    start = time.perf_counter()
    done = list(cluster.run_panels_on_ray(tasks, cpus_per_panel=args.cpus_per_panel,
                                          progress=False))
    wall = time.perf_counter() - start
    on_ray = sorted(per_iteration(d.summary) for d in done)[len(done) // 2]
    return dict(size=size, iterations=args.iterations, here_s_per_iteration=here,
                ray_s_per_iteration=on_ray, ratio=on_ray / here, panels=len(done),
                wall_s=wall, peak_rss_mib=max(d.node["peak_rss_mib"] for d in done),
                load=load)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=sizes, default=[64, 128], help="long sides (64,128)")
    parser.add_argument("--iterations", type=int, default=20, help="per panel (20)")
    parser.add_argument("--panels", type=int, default=2, help="panels on the cluster (2)")
    parser.add_argument("--cpus-per-panel", type=int, default=1, help="threads per panel (1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.cpus_per_panel)  # the same threads here as in each task
    cluster.connect("local", num_cpus=args.panels * args.cpus_per_panel)
    with tempfile.TemporaryDirectory() as folder:
        model = random_network(folder)
        net = load_network(model, pooling=POOLING)  # once: the same network for every size
        rows = []
        for size in args.sizes:
            print(f"timing {size} px ...", file=sys.stderr, flush=True)
            rows.append(bench_size(net, model, size, args, folder))
    print(json.dumps(dict(vars(args), cpus=os.cpu_count(), torch=torch.__version__)))
    print(f"{'size':>6} {'here s/it':>10} {'ray s/it':>10} {'ratio':>7} {'panels':>7} "
          f"{'wall s':>8} {'peak MiB':>9} {'load':>5}")
    for r in rows:
        print(f"{r['size']:>6} {r['here_s_per_iteration']:>10.4f} "
              f"{r['ray_s_per_iteration']:>10.4f} {r['ratio']:>7.3f} {r['panels']:>7} "
              f"{r['wall_s']:>8.1f} {r['peak_rss_mib']:>9.0f} {r['load']:>5.1f}")


if __name__ == "__main__":
    sys.exit(run_main(main))
