"""The paper's figures as tables of panels, each panel one style-transfer job.

The tables hold the values of Gatys, Ecker & Bethge (arXiv 1508.06576 and CVPR 2016), one per
figure, numbered as in the arXiv paper. Every panel not stated otherwise uses the paper's
common setting: average pooling, white-noise start (seed 0), content layer conv4_2, style layers
conv1_1 … conv5_1 with w_l = 1 / (number of active layers). Between versions, the CVPR paper
resizes the style image to the content's size ("content"); the arXiv one keeps its aspect.
"""
import dataclasses
import json
import multiprocessing
import os
import pathlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import torch

from reproduce.errors import ReproduceError
from reproduce.files import file_digest, write_json
from reproduce.image import load_image, save_image
from reproduce.montage import Cell, assemble
from reproduce.network import VGG19, configure_runtime, load_network
from reproduce.transfer import STYLE_LAYERS, TransferConfig, run_transfer

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "data" / "inputs"
MODEL = VGG19
PROTOTXT = ROOT / "models" / "VGG_ILSVRC_19_layers_deploy.prototxt"
CAFFEMODEL = ROOT / "models" / "VGG_ILSVRC_19_layers.caffemodel"
PAPERS = ("arxiv", "cvpr")
STYLE_SIZE = {"arxiv": "keep", "cvpr": "content"}

# key: (file, what it is, shipped in data/inputs). Femme nue assise is not in the public domain:
# it is read from a folder the user gives (--data DIR).
INPUTS = {
    "tubingen": ("tubingen.jpg", "Neckarfront, Tübingen", True),
    "shipwreck": ("shipwreck.jpg", "Turner, The Shipwreck of the Minotaur", True),
    "starry": ("starry_night.jpg", "van Gogh, The Starry Night", True),
    "scream": ("the_scream.jpg", "Munch, The Scream", True),
    "seated_nude": ("seated-nude.jpg", "Picasso, Femme nue assise", False),
    "composition_vii": ("composition_vii.jpg", "Kandinsky, Composition VII", True),
}


@dataclass(frozen=True)
class Preset:
    """Render size (long side, px) and L-BFGS-B iterations for every panel."""
    name: str
    size: int
    iterations: int


# full: the paper's setting for a GPU. The papers state no size (512 px took up to an hour on a
# K40); 2000 iterations is the `maxiter` of the authors' own code, which stops by count alone.
# quick: a preview that a 2-core CPU renders in minutes (all three figures of one version took
# 8.5 minutes on a busy 2-core machine); its figures are not the paper's, and say so.
PRESETS = {"full": Preset("full", 512, 2000), "quick": Preset("quick", 128, 40)}

# Fig. 1. Top row: style reconstructions of The Starry Night (α = 0) from the style layers
# conv1_1 up to the row's layer. Bottom row: content reconstructions of Neckarfront (β = 0)
# from one layer, which the two versions choose differently.
FIG1 = (
    # letter  style layers up to  content layer arxiv  content layer cvpr
    ("a",     "conv1_1",          "conv1_1",           "conv1_2"),
    ("b",     "conv2_1",          "conv2_1",           "conv2_2"),
    ("c",     "conv3_1",          "conv3_1",           "conv3_2"),
    ("d",     "conv4_1",          "conv4_1",           "conv4_2"),
    ("e",     "conv5_1",          "conv5_1",           "conv5_2"),
)

# Fig. 2 (CVPR Fig. 3): Neckarfront (A) in five styles, α/β per version.
FIG2 = (
    # letter  style              α/β arxiv  α/β cvpr
    ("B",     "shipwreck",       1e-3,      1e-3),
    ("C",     "starry",          1e-3,      8e-4),
    ("D",     "scream",          1e-3,      5e-3),
    ("E",     "seated_nude",     1e-4,      5e-4),
    ("F",     "composition_vii", 1e-4,      5e-4),
)

# Fig. 3: Neckarfront in the style of Composition VII. Rows: style layers conv1_1 up to the
# row's layer; columns: α/β.
FIG3 = (
    ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"),
    (1e-5, 1e-4, 1e-3, 1e-2),
)


@dataclass(frozen=True)
class Job:
    """One panel: the parameters of its style transfer, by input key and layer name."""
    name: str
    content: str = None
    styles: tuple = ()
    content_layers: tuple = ("conv4_2",)
    style_layers: tuple = STYLE_LAYERS
    ratio: float = 1e-3
    pooling: str = "avg"
    init: str = "noise"
    seed: int = 0

    @property
    def inputs(self):
        return ((self.content,) if self.content else ()) + self.styles


@dataclass(frozen=True)
class Figure:
    """A figure's layout: rows of cells (Job or input key, letter, input key of the inset)."""
    name: str
    paper: str
    title: str
    rows: tuple
    row_labels: tuple = ()
    col_labels: tuple = ()

    @property
    def cells(self):
        return [cell for row in self.rows for cell in row]

    @property
    def jobs(self):
        return [item for item, _, _ in self.cells if isinstance(item, Job)]

    @property
    def inputs(self):
        """The input keys the figure shows: its panels' images, input cells and insets."""
        keys = [k for item, _, inset in self.cells
                for k in (item.inputs if isinstance(item, Job) else (item,)) + (inset,) if k]
        return tuple(dict.fromkeys(keys))


def layers_up_to(last):
    """The style layers conv1_1 … `last` (Fig. 1 and Fig. 3's growing sets)."""
    return STYLE_LAYERS[:STYLE_LAYERS.index(last) + 1]


def fig1(paper):
    """Fig. 1: style reconstructions (top) and content reconstructions (bottom), a–e."""
    style, content = [("starry", "", None)], [("tubingen", "", None)]
    for letter, last, arxiv_layer, cvpr_layer in FIG1:
        layer = arxiv_layer if paper == "arxiv" else cvpr_layer
        style.append((Job(f"style_{letter}_{last}", styles=("starry",), content_layers=(),
                          style_layers=layers_up_to(last)), letter, None))
        content.append((Job(f"content_{letter}_{layer}", content="tubingen",
                            content_layers=(layer,), style_layers=()), letter, None))
    layers = ", ".join(job.content_layers[0] for job, _, _ in content[1:])
    title = (f"Fig. 1 ({paper}): top, style reconstructions of The Starry Night from conv1_1, "
             f"conv1_1-conv2_1, ... conv1_1-conv5_1 (a-e); bottom, content reconstructions of "
             f"Neckarfront from {layers} (a-e)")
    return Figure("fig1", paper, title, (tuple(style), tuple(content)))


def fig2(paper):
    """Fig. 2: the photograph (A) and five stylised panels (B–F) with the painting inset."""
    cells = [("tubingen", "A", None)]
    for letter, style, arxiv_ratio, cvpr_ratio in FIG2:
        ratio = arxiv_ratio if paper == "arxiv" else cvpr_ratio
        cells.append((Job(f"tubingen_{style}", content="tubingen", styles=(style,), ratio=ratio),
                      letter, style))
    ratios = ", ".join(f"{job.ratio:g}" for job, _, _ in cells[1:])
    title = (f"Fig. 2 ({paper}): Neckarfront (A) in the styles of The Shipwreck of the Minotaur "
             f"(B), The Starry Night (C), The Scream (D), Femme nue assise (E), Composition VII "
             f"(F); ratio alpha/beta = {ratios}")
    return Figure("fig2", paper, title, tuple(tuple(cells[i:i + 2]) for i in range(0, 6, 2)))


def fig3(paper):
    """Fig. 3: 5 style layer sets (rows) × 4 ratios α/β (columns), Composition VII."""
    layers, ratios = FIG3
    rows = tuple(tuple((Job(f"{last}_{ratio:.0e}", content="tubingen", styles=("composition_vii",),
                            style_layers=layers_up_to(last), ratio=ratio), "", None)
                       for ratio in ratios) for last in layers)
    title = (f"Fig. 3 of the arXiv paper ({paper} conventions): Neckarfront in the style of "
             f"Composition VII; rows, style layers conv1_1 up to the row's layer; columns, ratio "
             f"alpha/beta")
    return Figure("fig3", paper, title, rows, row_labels=layers,
                  col_labels=tuple(f"{ratio:.0e}" for ratio in ratios))


FIGURES = {"fig1": fig1, "fig2": fig2, "fig3": fig3}


def caption(figure, preset):
    """The figure's title and the setting it was rendered with (a quick preset says so)."""
    full = PRESETS["full"]
    if (preset.size, preset.iterations) == (full.size, full.iterations):
        setting = f"paper setting: {full.size} px, {full.iterations} L-BFGS-B iterations"
    else:
        setting = (f"{preset.name} preset: {preset.size} px, {preset.iterations} L-BFGS-B "
                   f"iterations, not the paper's setting ({full.size} px, {full.iterations})")
    return f"{figure.title}\n{setting}"


def require_model(model):
    """Stop with the way to get the converted VGG-19 when the network file is missing."""
    if not pathlib.Path(model).is_file():
        raise ReproduceError(
            f"no converted network at {model}: get the Caffe VGG-19 with `python "
            f"scripts/fetch_models.py` and convert it with `python scripts/convert_caffe.py "
            f"{PROTOTXT.relative_to(ROOT)} {CAFFEMODEL.relative_to(ROOT)} --out models/converted "
            f"--name vgg19 --until pool5` (make_figures.py --fetch does both)")


def find_inputs(keys, data_dirs=()):
    """{key: path} of the input images, looked up in data/inputs then in each --data folder;
    None for an image not shipped and not found (its panels are skipped), an error for others."""
    found = {}
    for key in keys:
        name, _, shipped = INPUTS[key]
        paths = [folder / name for folder in (SHIPPED, *map(pathlib.Path, data_dirs))]
        found[key] = next((p for p in paths if p.is_file()), None)
        if found[key] is None and shipped:
            raise ReproduceError(f"input image {name} not found in {', '.join(map(str, paths))}")
        if found[key] is not None:
            load_image(found[key])  # an unreadable image fails here, before any panel runs
    return found


@dataclass
class Run:
    """What every panel of one make_figures call shares."""
    out: pathlib.Path
    preset: Preset
    model: pathlib.Path
    model_sha256: str
    inputs: dict   # key: path or None
    digests: dict  # key: sha256
    device: str = "cpu"
    force: bool = False
    optimiser: str = "scipy"


@dataclass
class Panel:
    """A job placed in a run: its files, parameters and status (pending, computed, reused or
    skipped), with the record of its transfer or the reason it was skipped."""
    figure: Figure
    job: Job
    image: pathlib.Path
    record_path: pathlib.Path
    parameters: dict = None
    status: str = "pending"
    record: dict = None
    reason: str = None

    @property
    def title(self):
        return f"{self.figure.name} ({self.figure.paper}) {self.job.name}"


def skip_reason(panel, key):
    """Why a panel is skipped: its input is not shipped and no --data folder holds it."""
    letter = next(letter for item, letter, _ in panel.figure.cells if item == panel.job)
    name, what, _ = INPUTS[key]
    return (f"{panel.title} (panel {letter}) skipped: {name} ({what}) is not in the public domain "
            f"and not in the repository; pass --data DIR with the folder that holds it")


def panel_parameters(job, figure, run):
    """Everything that determines a panel's image besides the model, as the manifest holds it."""
    parameters = dict(dataclasses.asdict(job), size=run.preset.size,
                      iterations=run.preset.iterations, style_size=STYLE_SIZE[figure.paper],
                      optimiser=run.optimiser,
                      input_sha256={key: run.digests[key] for key in job.inputs})
    return json.loads(json.dumps(parameters))  # tuples as lists, as read back from a record


def earlier_record(panel, model_sha256):
    """The record of the panel rendered before with the same parameters and model, if its image
    is still the one written then; else None."""
    try:
        earlier = json.loads(panel.record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    same = earlier.get("parameters") == panel.parameters and \
        earlier.get("model_sha256") == model_sha256
    if same and panel.image.is_file() and file_digest(panel.image) == earlier.get("image_sha256"):
        return earlier
    return None


def plan(figure, run):
    """The figure's panels, each skipped (an input missing), reused (done before) or pending."""
    panels = []
    for job in figure.jobs:
        folder = pathlib.Path(run.out) / figure.paper / figure.name
        panel = Panel(figure, job, folder / f"{job.name}.png", folder / f"{job.name}.json")
        missing = [key for key in job.inputs if run.inputs[key] is None]
        if missing:
            panel.status, panel.reason = "skipped", skip_reason(panel, missing[0])
        else:
            panel.parameters = panel_parameters(job, figure, run)
            panel.record = None if run.force else earlier_record(panel, run.model_sha256)
            panel.status = "reused" if panel.record else "pending"
        panels.append(panel)
    return panels


def transfer_config(panel, run):
    """The TransferConfig of a pending panel."""
    job, inputs = panel.job, run.inputs
    return TransferConfig(
        content=str(inputs[job.content]) if job.content else None,
        styles=tuple(str(inputs[key]) for key in job.styles), model=str(run.model),
        output=str(panel.image), size=run.preset.size, ratio=job.ratio,
        content_layers=job.content_layers, style_layers=job.style_layers, pooling=job.pooling,
        init=job.init, iterations=run.preset.iterations, seed=job.seed, device=run.device,
        style_size=STYLE_SIZE[panel.figure.paper], optimiser=run.optimiser)


_NETS = {}
_WORKER = {}


def network(model, pooling, device):
    """The network, loaded once per process for each pooling and device."""
    key = (model, pooling, device)
    if key not in _NETS:
        _NETS[key] = load_network(model, pooling=pooling, device=device)
    return _NETS[key]


def init_worker(devices, threads):
    """A worker process: take a device of its own (one per GPU, or the CPU) and its thread share."""
    _WORKER["device"] = devices.get()
    torch.set_num_threads(threads)
    configure_runtime(_WORKER["device"])  # a spawned process starts with defaults


def render(config, record_path, parameters, progress=False):
    """Run one panel's transfer and write its record; returns the record."""
    config = dataclasses.replace(config, device=_WORKER.get("device", config.device))
    record_path.unlink(missing_ok=True)  # a stale record must never vouch for a new image
    summary = run_transfer(config, net=network(config.model, config.pooling, config.device),
                           progress=progress)
    record = dict(parameters=parameters, model_sha256=summary["model_sha256"],
                  image_sha256=file_digest(config.output), device=config.device,
                  **{key: summary[key] for key in ("losses", "alpha", "beta", "iterations",
                                                    "stop", "seconds")})
    write_json(record_path, record)
    return record


def worker_devices(device, jobs):
    """The devices of the worker processes: one per GPU where several exist, else `jobs` CPU
    processes; an empty list runs the panels in this process."""
    if device.startswith("cuda"):
        count = torch.cuda.device_count() if jobs > 1 else 0
        return [f"cuda:{i}" for i in range(min(jobs, count))] if count > 1 else []
    return [device] * jobs if jobs > 1 else []


def run_panels(panels, run, jobs=1, log=print):
    """Compute the pending panels, in parallel where asked; fills in their records."""
    pending = [p for p in panels if p.status == "pending"]
    tasks = [(transfer_config(p, run), p.record_path, p.parameters) for p in pending]
    devices = worker_devices(run.device, min(jobs, len(pending)))
    if not devices:
        for panel, task in zip(pending, tasks):
            log(f"{panel.title}: rendering")
            finished(panel, render(*task, progress=os.isatty(2)), log)
        return
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    for device in devices:
        queue.put(device)
    threads = max(1, (os.cpu_count() or 1) // len(devices))
    with ProcessPoolExecutor(len(devices), context, init_worker, (queue, threads)) as pool:
        futures = [pool.submit(render, *task) for task in tasks]
        for panel, future in zip(pending, futures):
            finished(panel, future.result(), log)


def finished(panel, record, log):
    """Mark a panel computed and say so."""
    panel.status, panel.record = "computed", record
    log(f"{panel.title}: {record['iterations']} iterations in {record['seconds']:.1f} s, "
        f"L_total {record['losses']['total']:.4g}")


def montage(figure, panels, run):
    """The figure in the paper's layout, from the panel images and the input images."""
    by_job = {p.job: p for p in panels}

    def picture(key):
        path = run.inputs.get(key)
        return None if path is None else load_image(path, run.preset.size)

    def cell(item, letter, inset):
        if not isinstance(item, Job):
            return Cell(picture(item), letter)
        panel = by_job[item]
        return Cell(None if panel.status == "skipped" else load_image(panel.image), letter,
                    picture(inset))

    rows = [[cell(*c) for c in row] for row in figure.rows]
    return assemble(rows, figure.row_labels, figure.col_labels, caption(figure, run.preset))


def panel_entry(panel):
    """A panel as the manifest lists it: status, file, every parameter and the run's results."""
    entry = dict(name=panel.job.name, status=panel.status, file=str(panel.image))
    if panel.status == "skipped":
        return dict(entry, reason=panel.reason, parameters=dataclasses.asdict(panel.job))
    results = {k: v for k, v in panel.record.items() if k != "parameters"}
    return dict(entry, parameters=panel.parameters, **results)


def write_figure(figure, panels, run):
    """Write the assembled figure and its manifest; returns the manifest."""
    folder = pathlib.Path(run.out) / figure.paper
    image = folder / f"{figure.name}.png"
    save_image(image, montage(figure, panels, run))
    manifest = dict(
        figure=figure.name, paper=figure.paper, caption=caption(figure, run.preset),
        image=str(image), preset=dataclasses.asdict(run.preset), model=str(run.model),
        model_sha256=run.model_sha256,
        inputs={key: None if run.inputs[key] is None else
                dict(file=str(run.inputs[key]), sha256=run.digests[key]) for key in figure.inputs},
        panels=[panel_entry(p) for p in panels])
    write_json(folder / f"{figure.name}.json", manifest)
    return manifest


def make_figures(names, paper, preset, out, model, device="cpu", data_dirs=(), jobs=1,
                 force=False, optimiser="scipy", log=print):
    """Render the named figures of one paper version; returns their manifests. Every input is
    checked before any panel runs, and no figure is written unless all its panels are done."""
    figures = [FIGURES[name](paper) for name in names]
    inputs = find_inputs(dict.fromkeys(k for f in figures for k in f.inputs), data_dirs)
    run = Run(out, preset, model, file_digest(model), inputs,
              {key: file_digest(path) for key, path in inputs.items() if path is not None},
              device, force, optimiser)
    plans = [plan(f, run) for f in figures]
    for panel in (p for panels in plans for p in panels if p.status != "pending"):
        log(panel.reason or f"{panel.title}: reused (same parameters and model)")
    run_panels([p for panels in plans for p in panels], run, jobs, log)
    return [write_figure(f, panels, run) for f, panels in zip(figures, plans)]
