"""Style transfer as a run: prepare (reproduce.run.prepare), synthesise (reproduce.optim), and
report, save and log."""
import dataclasses
import functools
import math
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import torch
from tqdm import tqdm

from reproduce.errors import Interrupted, WriteError
from reproduce.files import (
    atomic_paths,
    dump_json,
    file_digest,
    remove_stale_temporaries,
    writing,
)
from reproduce.image import Array
from reproduce.image.convention import deprocess, preprocess
from reproduce.image.files import upsample, write_image
from reproduce.method.objective import Losses
from reproduce.network.load import Network, load_network
from reproduce.optim.synthesis import Synthesis, SynthesisInterrupted, synthesise
from reproduce.run.config import (
    TransferConfig,
    check_inputs,
    check_outputs,
    flag,
    new_style_path,
)
from reproduce.run.memory import check_forward
from reproduce.run.prepare import Prepared, initial_image, prepare, read_image


@dataclass
class TransferSummary:
    """What a transfer did: the image it wrote, its losses, the iterations done, why it stopped,
    whether it did what was asked, the seconds, α and β, the network's sha256, the config, the
    evaluations of the loss and gradient, every iteration's losses and time (the log's history),
    every stage of a coarse-to-fine run, scale control's new style image, and the memory plan
    (reproduce.run.memory: the estimate by part, and whether it recomputed; the last stage's)."""
    output: str
    losses: Losses
    iterations: int
    stop: str
    completed: bool
    seconds: float
    alpha: float
    beta: float
    model_sha256: str
    config: TransferConfig
    evaluations: int = 0
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    stages: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # --pyramid's
    new_style: dict[str, Any] | None = None  # --fine-style's new style image
    memory: dict[str, Any] | None = None

    def as_record(self) -> dict[str, Any]:
        """As the log (--log) writes it, before its history: with --pyramid every stage, with
        --fine-style the new style image."""
        return dict(output=self.output, losses=self.losses.as_dict(), iterations=self.iterations,
                    stop=self.stop, completed=self.completed, seconds=self.seconds,
                    alpha=self.alpha, beta=self.beta, model_sha256=self.model_sha256,
                    evaluations=self.evaluations,
                    **({"stages": self.stages} if self.stages else {}),
                    **({"new_style": self.new_style} if self.new_style else {}),
                    **({"memory": self.memory} if self.memory else {}),
                    config=dataclasses.asdict(self.config))


class TransferInterrupted(Interrupted):
    """Ctrl-C or SIGTERM during a transfer: `summary` is what was written (the last iterate and
    its log, marked unfinished), None if it stopped before the synthesis began."""

    def __init__(self, signum: int, summary: TransferSummary | None) -> None:
        super().__init__(signum)
        self.summary = summary


def write_result(config: TransferConfig, image: Array, record: dict[str, Any] | None) -> None:
    """Write config.output (and config.log with `record`) as one set: both, or neither. If they
    cannot be written (the disk full, the folder made read-only), they are saved into a new
    folder of the system's temporary folder instead, and the WriteError says where: a run's work
    is never lost silently."""
    paths = [config.output] + ([config.log] if config.log and record is not None else [])
    try:
        with atomic_paths(paths) as (image_tmp, *log_tmp):
            with writing(config.output):
                write_image(image_tmp, image)
            for tmp in log_tmp:
                with writing(paths[1]):
                    dump_json(tmp, record)
    except WriteError as error:
        raise WriteError(f"{error}; {rescue(paths, image, record)}") from None


def rescue(paths: list[str], image: Array, record: dict[str, Any] | None) -> str:
    """Save a result that could not be written where asked into a new folder of the system's
    temporary folder; the sentence that says where (or that this failed too)."""
    try:
        folder = tempfile.mkdtemp(prefix="reproduce-rescued-")
        write_image(os.path.join(folder, os.path.basename(paths[0])), image)
        if record is not None and len(paths) > 1:
            dump_json(os.path.join(folder, os.path.basename(paths[1])), record)
    except OSError as e:
        return f"saving it in the temporary folder failed too ({e.strerror or e})"
    return f"the result was saved in {folder} instead"


def stage_configs(config: TransferConfig) -> list[TransferConfig]:
    """The stages of a run: the config itself; with --pyramid, one per stage, its long side the
    one that gives the content image (else the first style image) the area S² (H·W ≈ S², as the
    authors size images; never above the image's own size), its iterations its own."""
    if not config.pyramid:
        return [config]
    h, w = read_image(config.content or config.style_images[0], None, config).shape[:2]
    return [dataclasses.replace(config, size=max(1, round(max(h, w) * min(1.0, S / math.sqrt(h * w)))),
                                iterations=iterations, pyramid=(), pyramid_iterations=())
            for S, iterations in config.stages]


def upsampled(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A stage's result as the next stage's start: its image (as the network saw it, clipped to
    the pixel range) enlarged bilinearly to the next stage's shape, as the authors do."""
    return preprocess(upsample(deprocess(x), shape))


def run_transfer(config: TransferConfig, net: Network | None = None,
                 progress: bool = True) -> TransferSummary:
    """Synthesise config.output by L-BFGS-B on eq. 7 and return its summary. With --pyramid,
    stage after stage, each from the last one's result enlarged, its targets taken at its own
    size; with --fine-style, the new style image is made first and written beside the output.

    Inputs and outputs are checked before the network loads, the memory before the targets are
    taken (with --pyramid, the largest stage's forward pass before the first stage).
    On Ctrl-C or SIGTERM the last iterate and the log are written, marked completed False, and
    TransferInterrupted is raised with that summary."""
    torch.manual_seed(config.seed)
    check_inputs(config)
    check_outputs(config)
    net = net or load_network(config.model, pooling=config.pooling, device=config.device,
                              precision=config.precision)
    stages = stage_configs(config)
    if config.pyramid:  # the largest stage, before the first one starts
        largest = max(stage.size for stage in stages)
        check_forward(net, config, (largest, largest), flag("pyramid"))
    for path in (config.output, config.log, new_style_path(config)):
        if path:
            remove_stale_temporaries(path)  # a killed run's; a running one keeps its own
    first = prepare(stages[0], net)  # its checks and images before the progress bar
    with tqdm(total=sum(stage.iterations for stage in stages), disable=not progress, unit="it",
              desc=config.optimiser) as bar:
        return Run(config, net, stages, bar).all_stages(first)


class Run:
    """A transfer's stages in turn (one without --pyramid), with what they share: the history
    of every iteration, the stages' records, the progress bar and the clock."""

    def __init__(self, config: TransferConfig, net: Network, stages: list[TransferConfig],
                 bar: tqdm) -> None:
        self.config, self.net, self.stages, self.bar = config, net, stages, bar
        self.history: list[dict[str, Any]] = []
        self.records: list[dict[str, Any]] = []
        self.done = 0  # iterations of the stages before the current one
        self.start = time.perf_counter()

    def all_stages(self, first: Prepared) -> TransferSummary:
        """Every stage, the first prepared already; the summary of the last."""
        x: torch.Tensor | None = None
        for index, stage in enumerate(self.stages, 1):
            prepared = first if index == 1 else prepare(stage, self.net)
            if prepared.new_style is not None:
                write_new_style(self.config, prepared.new_style)
            x0 = initial_image(stage, prepared) if x is None else upsampled(x, prepared.shape)
            try:
                result = synthesise(prepared.objective, x0, optimiser=stage.optimiser,
                                    iterations=stage.iterations,
                                    callback=functools.partial(self.after_iteration, index,
                                                               prepared))
            except SynthesisInterrupted as interrupt:  # save the last iterate, stop
                raise TransferInterrupted(interrupt.signum, self.finish(
                    index, prepared, interrupt.partial, interrupted=True)) from interrupt
            if index == len(self.stages):
                return self.finish(index, prepared, result)
            self.records.append(stage_record(index, stage, prepared, result))
            self.done += result.iterations
            x = result.image
        raise AssertionError("a run has at least one stage")

    def write(self, prepared: Prepared, x: torch.Tensor,
              record: dict[str, Any] | None = None) -> None:
        """Write the image of an iterate, in colour as the colour preservation gives it, with
        the log `record` when given, as one set (write_result)."""
        write_result(self.config, prepared.colour.output(deprocess(x), prepared.content), record)

    def after_iteration(self, index: int, prepared: Prepared, iteration: int, x: torch.Tensor,
                        losses: Losses) -> None:
        pyramid = dict(stage=index) if self.config.pyramid else {}
        self.history.append(dict(iteration=self.done + iteration,
                                 seconds=time.perf_counter() - self.start, **losses.as_dict(),
                                 **pyramid))
        shown: dict[str, object] = {k: f"{v:.3g}" for k, v in losses.as_dict().items()
                                    if k in ("content", "style", "tv")}
        self.bar.set_postfix(dict(total=f"{losses.total:.4g}", **pyramid, **shown),
                             refresh=False)
        self.bar.update(1)
        every = self.config.save_every
        if every and (self.done + iteration) % every == 0:
            self.write(prepared, x)

    def finish(self, index: int, prepared: Prepared, result: Synthesis,
               interrupted: bool = False) -> TransferSummary:
        """Write the image and the log of the run so far as one set; returns its summary."""
        config, stage = self.config, self.stages[index - 1]
        self.records.append(stage_record(index, stage, prepared, result))
        stop = f"{result.stop} in stage {index} of {len(self.stages)}" \
            if interrupted and config.pyramid else result.stop
        summary = TransferSummary(
            config.output, result.losses, self.done + result.iterations, stop,
            result.completed and len(self.records) == len(self.stages),
            time.perf_counter() - self.start, prepared.objective.alpha, prepared.objective.beta,
            self.net.sha256, config, sum(r["evaluations"] for r in self.records), self.history,
            self.records if config.pyramid else [], new_style_record(config, prepared),
            prepared.memory.as_record() if prepared.memory else None)
        self.write(prepared, result.image,
                   dict(summary.as_record(), history=self.history) if config.log else None)
        return summary


def stage_record(index: int, stage: TransferConfig, prepared: Prepared,
                 result: Synthesis) -> dict[str, Any]:
    """What a stage of --pyramid did, as the log keeps it."""
    return dict(stage=index, size=stage.size, shape=list(prepared.shape),
                iterations=result.iterations, evaluations=result.evaluations, stop=result.stop,
                completed=result.completed, losses=result.losses.as_dict(),
                **({"memory": prepared.memory.as_record()} if prepared.memory else {}))


def write_new_style(config: TransferConfig, result: Synthesis) -> None:
    """Scale control's new style image, beside the output (written atomically)."""
    path = new_style_path(config)
    assert path is not None  # only scale control makes one
    with atomic_paths([path]) as (tmp,):
        with writing(path):
            write_image(tmp, deprocess(result.image))


def new_style_record(config: TransferConfig, prepared: Prepared) -> dict[str, Any] | None:
    """Scale control's new style image as the log records it: file, sha256, its synthesis."""
    path, made = new_style_path(config), prepared.new_style
    if path is None or made is None:
        return None
    return dict(file=path, sha256=file_digest(path), iterations=made.iterations,
                evaluations=made.evaluations, stop=made.stop, losses=made.losses.as_dict())
