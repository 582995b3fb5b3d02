#!/usr/bin/env python3
"""Time the reproduction against the hardware limit; docs/performance.md records the results.

For each size (the long side of the paper's Fig. 2 pair, Tübingen and The Starry Night), measured
side by side in one run, medians over --repeats after --warmup runs of each:

  network    the converted network (ONNX -> torch) against a hand-written torch VGG-19 with the
             same weights: forward to the deepest layer the objective reads (conv5_1), and
             forward + backward to the input pixels; ratio converted / plain
  objective  one loss-and-gradient evaluation of eq. 7 (Objective.value_and_grad) against the
             bare forward + backward of the converted network; ratio
  L-BFGS     run_transfer for --iterations with each optimiser: scipy's L-BFGS-B (the float64
             round trip and host-device copies included) and the same L-BFGS-B kept on the
             device (reproduce/optim/lbfgsb.py);
             seconds per iteration once the first line searches are over, evaluations per
             iteration; ratio one iteration / one evaluation
  FLOPs      one evaluation's FLOPs as torch's FlopCounterMode counts them (convolutions and
             matrix products, forward and backward), over its median time; peak memory (CUDA:
             allocated by torch in one evaluation; CPU: the process's peak resident set)

Without --model, a VGG-19 with the layer shapes of models/VGG_ILSVRC_19_layers_deploy.prototxt and
seeded random weights is written and converted into a temporary folder: timings do not depend on
the weights' values.
"""
import argparse
import dataclasses
import datetime
import json
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import time
from collections import OrderedDict
from importlib.metadata import version

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from reproduce.caffe.synthetic import write_random_caffemodel
from reproduce.errors import run_main
from reproduce.files import ROOT, write_json
from reproduce.network import configure_runtime, default_device, load_network
from reproduce.network.convert import convert
from reproduce.optim import OPTIMISERS
from reproduce.process import peak_rss_bytes
from reproduce.run.config import TransferConfig
from reproduce.run.prepare import initial_image, prepare
from reproduce.run.transfer import run_transfer

PROTOTXT = ROOT / "models" / "VGG_ILSVRC_19_layers_deploy.prototxt"
CONTENT = ROOT / "data" / "inputs" / "tubingen.jpg"
STYLE = ROOT / "data" / "inputs" / "starry_night.jpg"
VGG19_BLOCKS = (2, 2, 4, 4, 4)  # convolutions per block; each block ends in a 2×2 pooling
POOLING = "avg"  # as in the paper's figures
PACKAGES = ("torch", "numpy", "scipy", "onnx", "onnx2torch")  # versions in the report
OPTIMISER_LABELS = {"scipy": "L-BFGS-B (scipy)", "device": "L-BFGS-B on the device"}
SETTLE = 5  # L-BFGS-B iterations left out of the per-iteration time (the first line searches)


def random_network(folder):
    """Path of a network file converted (until pool5) from a random-weight full-size VGG-19."""
    caffemodel = pathlib.Path(folder) / "vgg19_random.caffemodel"
    write_random_caffemodel(PROTOTXT, caffemodel, until="pool5")
    return convert(PROTOTXT, caffemodel, folder, until="pool5")["onnx"]


def _conv_relu(state, name):
    weight = state[f"{name}.weight"]
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], kernel_size=3, padding=1)
    conv.load_state_dict(dict(weight=weight, bias=state[f"{name}.bias"]))
    return nn.Sequential(conv, nn.ReLU(inplace=True))


def plain_vgg19(state, pooling, last="pool5"):
    """VGG-19's convolutional part written by hand, up to and including Caffe blob `last`: each
    conv{b}_{i} a 3×3 convolution (padding 1) and an in-place ReLU, each pool{b} a 2×2 stride-2
    pooling in Caffe's ceil mode. Weights from `state` ({"conv1_1.weight": ..., ...})."""
    Pool = nn.MaxPool2d if pooling == "max" else nn.AvgPool2d
    layers = []
    for b, count in enumerate(VGG19_BLOCKS, 1):
        layers += [(f"conv{b}_{i}", _conv_relu(state, f"conv{b}_{i}")) for i in range(1, count + 1)]
        layers.append((f"pool{b}", Pool(2, stride=2, ceil_mode=True)))
    names = [name for name, _ in layers]
    return nn.Sequential(OrderedDict(layers[:names.index(last) + 1])).eval().requires_grad_(False)


def count_flops(fn):
    """FLOPs of fn() as torch's FlopCounterMode counts them: convolutions and matrix products,
    forward and backward (only the gradients autograd computes)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_medians(candidates, repeats, warmup, device):
    """{name: median seconds} of each callable, run in turn so that they share the machine's
    conditions, after `warmup` runs of each."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def peak_memory(device, fn):
    """Bytes: on CUDA the most torch allocated while fn() ran; on CPU the process's peak resident
    set so far (the OS keeps no per-call peak)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device)
    fn()
    return peak_rss_bytes()


def busy_jiffies():
    """(CPU time used by all processes, by this one, total elapsed), in clock ticks, from
    /proc/stat; None where there is none (other processes' load cannot be shown)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except OSError:
        return None
    own = os.times()
    return (sum(ticks) - ticks[3] - ticks[4], (own.user + own.system) * os.sysconf("SC_CLK_TCK"),
            sum(ticks))


def load_elsewhere(before, after):
    """Share of the machine's CPU time that other processes used between two busy_jiffies()."""
    if before is None or after is None or after[2] == before[2]:
        return None
    return max(0.0, ((after[0] - before[0]) - (after[1] - before[1])) / (after[2] - before[2]))


class CountingNetwork:
    """A Network that notes when each gradient evaluation run through it starts."""

    def __init__(self, net):
        self.net = net
        self.starts = []

    def __getattr__(self, name):
        return getattr(self.net, name)

    def blobs_in_order(self, x, names):
        if x.requires_grad:
            self.starts.append(time.perf_counter())
        return self.net.blobs_in_order(x, names)


def time_lbfgs(net, config, evaluation_s):
    """run_transfer as the command line runs it, with config.optimiser: seconds and evaluations
    per iteration after the first SETTLE iterations (over all of them in short runs), their ratio
    to one evaluation, the rest of an iteration, and the whole run's count and time. Keys are
    prefixed lbfgs_<optimiser>_."""
    counting = CountingNetwork(net)
    summary = run_transfer(config, net=counting, progress=False)
    ends = [h["seconds"] for h in json.loads(pathlib.Path(config.log).read_text())["history"]]
    settle = SETTLE if len(ends) > 2 * SETTLE else 0
    since = ends[settle - 1] if settle else 0.0
    # The evaluations that started after iteration `settle` ended. The history counts seconds from
    # the run's start (before the optimiser's set-up); the run ends as its last evaluation does,
    # which puts that start on the evaluations' clock, to well within the half evaluation of margin.
    start = counting.starts[-1] + evaluation_s - ends[-1]
    later = sum(t > start + since - evaluation_s / 2 for t in counting.starts)
    n = len(ends) - settle
    per_iteration, evaluations = (ends[-1] - since) / n, later / n
    result = dict(iterations=summary.iterations, evaluations=len(counting.starts),
                  seconds=summary.seconds, s_per_iteration=per_iteration,
                  evaluations_per_iteration=evaluations, ratio=per_iteration / evaluation_s,
                  rest_s_per_iteration=per_iteration - evaluations * evaluation_s)
    return {f"lbfgs_{config.optimiser}_{key}": value for key, value in result.items()}


def bench_size(net, model, size, args, folder):
    """One size's measurements as a flat dict (seconds, ratios, FLOPs, bytes)."""
    device = net.device
    config = TransferConfig(content=str(CONTENT), styles=(str(STYLE),), model=model, size=size,
                            iterations=args.iterations, device=str(device),
                            output=os.path.join(folder, "out.png"),
                            log=os.path.join(folder, "log.json"))
    prepared = prepare(config, net)
    objective, shape = prepared.objective, prepared.shape
    x = initial_image(config, prepared).to(device)
    last = max(objective.layers, key=net.blob_names.index)
    plain = plain_vgg19(net.module.state_dict(), POOLING, last).to(device,
                                                                 memory_format=net.memory_format)
    networks = dict(converted=lambda image: net.blobs(image, (last,))[last],
                    plain=lambda image: plain(image.contiguous(memory_format=net.memory_format)))

    def forward(run):
        with torch.no_grad():
            run(x)

    def forward_backward(run):
        y = run(x.detach().requires_grad_(True))
        y.backward(torch.ones_like(y))

    candidates = {}
    for name, run in networks.items():
        candidates[f"forward_{name}"] = lambda run=run: forward(run)
        candidates[f"forward_backward_{name}"] = lambda run=run: forward_backward(run)
    candidates["evaluation"] = lambda: objective.value_and_grad(x)
    start = busy_jiffies()
    t = interleaved_medians(candidates, args.repeats, args.warmup, device)
    flops = count_flops(candidates["evaluation"])
    memory = peak_memory(device, candidates["evaluation"])
    row = dict(size=size, shape=list(shape), last_layer=last,
               **{f"{name}_s": value for name, value in t.items()},
               forward_ratio=t["forward_converted"] / t["forward_plain"],
               forward_backward_ratio=t["forward_backward_converted"] / t["forward_backward_plain"],
               evaluation_ratio=t["evaluation"] / t["forward_backward_converted"],
               evaluation_gflop=flops / 1e9, evaluation_gflops=flops / 1e9 / t["evaluation"],
               peak_memory_mb=memory / 2**20)
    for optimiser in OPTIMISERS:
        row.update(time_lbfgs(net, dataclasses.replace(config, optimiser=optimiser),
                              t["evaluation"]))
    row["load_elsewhere"] = load_elsewhere(start, busy_jiffies())
    return row


def cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next(line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def environment(device):
    env = dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               platform=platform.platform(), cpu=cpu_name(), cpu_count=os.cpu_count(),
               torch_threads=torch.get_num_threads(), python=platform.python_version(),
               **{name: version(name) for name in PACKAGES})
    if device.type == "cuda":
        env.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version())
    return env


def _ms(seconds):
    return f"{seconds * 1e3:.1f}"


def lbfgs_rows(optimiser, name):
    """The printed table's rows of one optimiser's time_lbfgs."""
    key = f"lbfgs_{optimiser}_"
    return [
        (f"{name} iteration (ms)", key + "s_per_iteration", _ms),
        ("  ratio / evaluation", key + "ratio", lambda v: f"{v:.3f}"),
        ("  evaluations per iteration", key + "evaluations_per_iteration", lambda v: f"{v:.2f}"),
        ("  the rest per iteration (ms)", key + "rest_s_per_iteration", _ms),
        ("  whole run: iterations, evaluations", None,
         lambda r: f"{r[key + 'iterations']}, {r[key + 'evaluations']}"),
        ("  whole run (s)", key + "seconds", lambda v: f"{v:.1f}"),
        ("  1000 iterations at this rate (s)", key + "s_per_iteration",
         lambda v: f"{1000 * v:.1f}"),
    ]


ROWS = [  # (label, key, format) of the printed table
    ("image (H×W)", "shape", lambda v: "×".join(map(str, v))),
    ("forward, converted (ms)", "forward_converted_s", _ms),
    ("forward, plain (ms)", "forward_plain_s", _ms),
    ("  ratio converted / plain", "forward_ratio", lambda v: f"{v:.3f}"),
    ("forward+backward, converted (ms)", "forward_backward_converted_s", _ms),
    ("forward+backward, plain (ms)", "forward_backward_plain_s", _ms),
    ("  ratio converted / plain", "forward_backward_ratio", lambda v: f"{v:.3f}"),
    ("evaluation of eq. 7 (ms)", "evaluation_s", _ms),
    ("  ratio / forward+backward", "evaluation_ratio", lambda v: f"{v:.3f}"),
    *(row for optimiser, name in OPTIMISER_LABELS.items() for row in lbfgs_rows(optimiser, name)),
    ("evaluation GFLOP", "evaluation_gflop", lambda v: f"{v:.1f}"),
    ("achieved GFLOP/s", "evaluation_gflops", lambda v: f"{v:.1f}"),
    ("peak memory (MiB)", "peak_memory_mb", lambda v: f"{v:.0f}"),
    ("CPU used by other processes", "load_elsewhere",
     lambda v: "n/a" if v is None else f"{100 * v:.0f}%"),
]


def format_table(rows):
    lines = [f"{'size':38s}" + "".join(f"{r['size']:>12d}" for r in rows)]
    for label, key, fmt in ROWS:
        lines.append(f"{label:38s}" + "".join(f"{fmt(r if key is None else r[key]):>12s}"
                                              for r in rows))
    return "\n".join(lines)


def sizes(text):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated sizes, not {text!r}") from None
    if min(values) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive")
    return values


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=sizes, default=[128, 256, 512],
                        help="long sides in pixels, comma-separated (default: 128,256,512)")
    parser.add_argument("--device", default=default_device(),
                        help="cpu or cuda (default: cuda when torch sees one, else cpu)")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    parser.add_argument("--model", help="network file to time (default: a random-weight VGG-19)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (default: 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (default: 1)")
    parser.add_argument("--iterations", type=int, default=20,
                        help="L-BFGS-B iterations per size (default: %(default)s)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                        help="N×H×W×C memory layout (default: the network's choice per device)")
    parser.add_argument("--cudnn-benchmark", action="store_true",
                        help="let cuDNN time its algorithms for each shape (CUDA)")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 arithmetic (CUDA)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    configure_runtime(args.device, tf32=args.tf32)
    with tempfile.TemporaryDirectory() as folder:
        model = args.model or random_network(folder)
        net = load_network(model, pooling=POOLING, device=args.device,
                           channels_last=args.channels_last)
        rows = []
        for size in args.sizes:
            print(f"timing {size} px ...", file=sys.stderr, flush=True)
            rows.append(bench_size(net, model, size, args, folder))
    settings = dict(device=str(net.device), model=args.model or "random-weight VGG-19",
                    channels_last=net.memory_format == torch.channels_last,
                    cudnn_benchmark=args.cudnn_benchmark, tf32=args.tf32, repeats=args.repeats,
                    warmup=args.warmup, iterations=args.iterations)
    report = dict(environment=environment(net.device), settings=settings, results=rows)
    print(json.dumps(dict(report["environment"], **settings)))
    print(format_table(rows))
    if args.json:
        write_json(args.json, report)


if __name__ == "__main__":
    sys.exit(run_main(main))
