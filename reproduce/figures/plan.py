"""Which panels a run must render: inputs found, each panel's TransferConfig as overrides of one
base config, and reuse of a panel only when its record vouches that it is done."""
import dataclasses
import json
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from reproduce.errors import ReproduceError
from reproduce.figures.tables import INPUTS, STYLE_SIZE, Figure, Job, Preset, panel_size
from reproduce.files import ROOT, PathLike, file_digest
from reproduce.image.files import load_image
from reproduce.network import VGG19
from reproduce.run.config import INITS, RUN_FIELDS, TransferConfig
from reproduce.run.regions import Region

SHIPPED = ROOT / "data" / "inputs"
MODEL = VGG19  # the converted network (reproduce.network holds the one default)
PROTOTXT = ROOT / "models" / "VGG_ILSVRC_19_layers_deploy.prototxt"
CAFFEMODEL = ROOT / "models" / "VGG_ILSVRC_19_layers.caffemodel"
# TransferConfig fields that do not change a panel's image (config.RUN_FIELDS) or that the
# record holds otherwise (the inputs by key and sha256, the model by sha256)
NOT_PARAMETERS = (*RUN_FIELDS, "content", "styles", "model")


def require_model(model: PathLike) -> None:
    """Stop with the way to get the converted VGG-19 when the network file is missing."""
    if not pathlib.Path(model).is_file():
        raise ReproduceError(
            f"no converted network at {model}: get the Caffe VGG-19 with `python "
            f"scripts/fetch_models.py` and convert it with `python scripts/convert_caffe.py "
            f"{PROTOTXT.relative_to(ROOT)} {CAFFEMODEL.relative_to(ROOT)} --out models/converted "
            f"--name vgg19 --until pool5` (make_figures.py --fetch does both)")


def find_inputs(keys: Iterable[str], data_dirs: Sequence[PathLike] = ()) -> dict[str, pathlib.Path | None]:
    """{key: path} of the input images, looked up in data/inputs then in each --data folder;
    None for an image not shipped and not found (its panels are skipped), an error for others."""
    found: dict[str, pathlib.Path | None] = {}
    for key in keys:
        name, _, shipped = INPUTS[key]
        paths = [folder / name for folder in (SHIPPED, *map(pathlib.Path, data_dirs))]
        path = found[key] = next((p for p in paths if p.is_file()), None)
        if path is None and shipped:
            raise ReproduceError(f"input image {name} not found in {', '.join(map(str, paths))}")
        if path is not None:
            load_image(path)  # an unreadable image fails here, before any panel runs
    return found


@dataclass
class Run:
    """What every panel of one make_figures call shares: where it writes, the preset, the
    network and inputs with their sha256, and the base config every panel overrides."""
    out: pathlib.Path
    paper: str
    preset: Preset
    model: pathlib.Path
    model_sha256: str
    inputs: dict[str, pathlib.Path | None]  # key: path (None: not found, its panels skipped)
    digests: dict[str, str]                 # key: sha256
    base: TransferConfig
    force: bool = False


def new_run(out: PathLike, folder: str, preset: Preset, model: PathLike,
            inputs: dict[str, pathlib.Path | None], device: str = "cpu",
            settings: Mapping[str, Any] | None = None, force: bool = False, **fields: Any) -> Run:
    """A run writing under OUT/<folder>/, with the inputs and network hashed and the base config:
    TransferConfig's defaults at the preset's size and iterations, with the command line's
    `settings` (optimiser, precision: TransferConfig fields) and `fields` (the panels set their
    images themselves)."""
    digests = {key: file_digest(path) for key, path in inputs.items() if path is not None}
    base = TransferConfig(model=str(model), size=preset.size, iterations=preset.iterations,
                          device=device, **dict(settings or {}), **fields)
    return Run(pathlib.Path(out), folder, preset, pathlib.Path(model), file_digest(model), inputs,
               digests, base, force)


def make_run(out: PathLike, paper: str, preset: Preset, model: PathLike,
             inputs: dict[str, pathlib.Path | None], device: str = "cpu",
             settings: Mapping[str, Any] | None = None, force: bool = False) -> Run:
    """The run of a paper version's figures: the paper's common setting (TransferConfig's
    defaults), at the preset's size and iterations, with the version's style sizing."""
    return new_run(out, paper, preset, model, inputs, device, settings, force,
                   style_size=STYLE_SIZE[paper])


class PanelStatus(str, Enum):
    """Where a panel stands in a run (written into manifests by its value)."""
    PENDING = "pending"        # to be rendered
    COMPUTED = "computed"      # rendered by this run, completed
    UNFINISHED = "unfinished"  # rendered by this run, stopped short: not done
    REUSED = "reused"          # done before, with the same parameters and network
    SKIPPED = "skipped"        # an input is missing
    FAILED = "failed"          # its transfer raised an error


@dataclass
class Panel:
    """A job placed in a run: its files, config and status, with its record or the reason it
    was skipped."""
    figure: Figure
    job: Job
    image: pathlib.Path
    record_path: pathlib.Path
    config: TransferConfig | None = None
    parameters: dict[str, Any] | None = None
    status: PanelStatus = PanelStatus.PENDING
    record: dict[str, Any] | None = None
    reason: str | None = None

    @property
    def key(self) -> str:
        return f"{self.figure.paper}/{self.figure.name}/{self.job.name}"

    @property
    def title(self) -> str:
        return f"{self.figure.name} ({self.figure.paper}) {self.job.name}"

    @property
    def letter(self) -> str:
        return next(c.letter for c in self.figure.cells if c.item is self.job)


def panel_config(job: Job, run: Run, image: pathlib.Path, size: int | None = None
                 ) -> TransferConfig:
    """The panel's TransferConfig: the run's base config with the job's changes (and its figure's
    panel size, where given)."""
    def path(key: str) -> str:
        return str(run.inputs[key])

    changes = dict(job.changes, output=str(image),
                   content=path(job.content) if job.content else None,
                   styles=tuple(map(path, job.styles)),
                   **({} if size is None else dict(size=size)))
    if job.regions:
        changes["regions"] = tuple(Region(r.name, path(r.mask), path(r.style),
                                          r.style_mask and path(r.style_mask)).spec()
                                   for r in job.regions)
    if job.changes.get("fine_style"):
        changes["fine_style"] = path(job.changes["fine_style"])
    return dataclasses.replace(run.base, **changes)


def panel_parameters(job: Job, config: TransferConfig, run: Run) -> dict[str, Any]:
    """Everything besides the network that determines a panel's image, as its record holds it."""
    fields = {k: v for k, v in dataclasses.asdict(config).items() if k not in NOT_PARAMETERS}
    parameters = dict(fields, content=job.content, styles=job.styles,
                      input_sha256={key: run.digests[key] for key in job.inputs})
    if job.regions:  # by input key, as content and styles: the digests say which files
        parameters["regions"] = [list(r) for r in job.regions]
    if config.fine_style:
        parameters["fine_style"] = job.changes["fine_style"]
    if config.init not in INITS:  # a start image: its content decides the panel too
        parameters["init_sha256"] = file_digest(config.init)
    return json.loads(json.dumps(parameters))  # tuples as lists, as read back from a record


# each parameter's default as a record writes it. A field added to TransferConfig keeps the old
# behaviour at its default (the beyond-the-paper options are off), so a record written before the
# field existed holds the default's image: read its missing fields as their defaults
DEFAULTS = {f.name: json.loads(json.dumps(f.default)) for f in dataclasses.fields(TransferConfig)
            if f.name not in NOT_PARAMETERS and f.default is not dataclasses.MISSING}


def recorded_parameters(record: dict[str, Any]) -> Any:
    """A record's parameters, any field it predates read as that field's default."""
    parameters = record.get("parameters")
    return dict(DEFAULTS, **parameters) if isinstance(parameters, dict) else parameters


def new_style_file(image: pathlib.Path) -> pathlib.Path:
    """Where a panel's scale control writes its new style image (config.new_style_path)."""
    return image.with_name(f"{image.stem}_style{image.suffix}")


def is_done(record: object, panel: Panel, model_sha256: str) -> bool:
    """A panel counts as done only if its record says it completed what was asked (every
    iteration, or the optimiser's own convergence), with the same parameters and network, and
    its image (and scale control's new style image) is still the one the record's sha256
    names."""
    if not isinstance(record, dict):
        return False
    made = record.get("new_style") or {}
    return (record.get("completed") is True
            and recorded_parameters(record) == panel.parameters
            and record.get("model_sha256") == model_sha256
            and panel.image.is_file() and file_digest(panel.image) == record.get("image_sha256")
            and (not made or new_style_file(panel.image).is_file()
                 and file_digest(new_style_file(panel.image)) == made.get("sha256")))


def read_record(path: PathLike) -> Any:
    """A panel's record, or None if it is missing or unreadable (then the panel is rendered
    again): not a file, not JSON, nested too deep to read."""
    try:
        return json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


def skip_reason(panel: Panel, keys: Sequence[str]) -> str:
    """Why a panel is skipped: inputs the repository does not hold (data/README.md says why) and
    no --data folder holds."""
    files = " and ".join(f"{INPUTS[key][0]} ({INPUTS[key][1]})" for key in keys)
    one = len(keys) == 1
    return (f"{panel.title} (panel {panel.letter}) skipped: {files} {'is' if one else 'are'} "
            f"not in the repository (data/README.md says why); pass --data DIR with the folder "
            f"that holds {'it' if one else 'them'}")


def plan(figure: Figure, run: Run) -> list[Panel]:
    """The figure's panels, each skipped (an input missing), reused (done before) or pending."""
    folder = run.out / figure.paper / figure.name
    panels = []
    for job in figure.jobs:
        panel = Panel(figure, job, folder / f"{job.name}.png", folder / f"{job.name}.json")
        for path in (panel.image, panel.record_path):
            if path.is_dir() or path.is_symlink():
                raise ReproduceError(f"{path}: a folder or a link where {panel.title} writes a "
                                     "file; move it away")
        missing = [key for key in job.inputs if run.inputs[key] is None]
        if missing:
            panel.status, panel.reason = PanelStatus.SKIPPED, skip_reason(panel, missing)
        else:
            size = panel_size(figure, run.preset) if figure.size else None
            panel.config = panel_config(job, run, panel.image, size)
            panel.parameters = panel_parameters(job, panel.config, run)
            record = None if run.force else read_record(panel.record_path)
            if is_done(record, panel, run.model_sha256):
                panel.status, panel.record = PanelStatus.REUSED, record
        panels.append(panel)
    return panels
