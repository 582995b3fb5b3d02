"""Style transfer as a run: prepare (reproduce.run.prepare), synthesise (reproduce.optim), and
report, save and log."""
import dataclasses
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import torch
from tqdm import tqdm

from reproduce.errors import Interrupted, WriteError
from reproduce.files import atomic_paths, dump_json, remove_stale_temporaries, writing
from reproduce.image import Array
from reproduce.image.convention import deprocess
from reproduce.image.files import write_image
from reproduce.method.objective import Losses
from reproduce.network.load import Network
from reproduce.optim.synthesis import Synthesis, SynthesisInterrupted, synthesise
from reproduce.run.config import TransferConfig
from reproduce.run.prepare import initial_image, prepare


@dataclass
class TransferSummary:
    """What a transfer did: the image it wrote, its losses, the iterations done, why it stopped,
    whether it did what was asked, the seconds, α and β, the network's sha256, the config, the
    evaluations of the loss and gradient, and every iteration's losses and time (the log's
    history)."""
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

    def as_record(self) -> dict[str, Any]:
        """As the log (--log) writes it, before its history."""
        return dict(output=self.output, losses=self.losses.as_dict(), iterations=self.iterations,
                    stop=self.stop, completed=self.completed, seconds=self.seconds,
                    alpha=self.alpha, beta=self.beta, model_sha256=self.model_sha256,
                    evaluations=self.evaluations,
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


def run_transfer(config: TransferConfig, net: Network | None = None,
                 progress: bool = True) -> TransferSummary:
    """Synthesise config.output by L-BFGS-B on eq. 7 and return its summary.

    Inputs and outputs are checked before the network loads, the memory before any image does.
    On Ctrl-C or SIGTERM the last iterate and the log are written, marked completed False, and
    TransferInterrupted is raised with that summary."""
    torch.manual_seed(config.seed)
    prepared = prepare(config, net)
    for path in (config.output, config.log):
        if path:
            remove_stale_temporaries(path)  # a killed run's; a running one keeps its own
    objective = prepared.objective
    x0 = initial_image(config, prepared)
    history: list[dict[str, Any]] = []
    start = time.perf_counter()
    bar = tqdm(total=config.iterations, disable=not progress, unit="it", desc=config.optimiser)

    def write(x: torch.Tensor, record: dict[str, Any] | None = None) -> None:
        """Write the image of an iterate, in colour as the colour preservation gives it, with the
        log `record` when given, as one set (write_result)."""
        write_result(config, prepared.colour.output(deprocess(x), prepared.content), record)

    def after_iteration(iteration: int, x: torch.Tensor, losses: Losses) -> None:
        history.append(dict(iteration=iteration, seconds=time.perf_counter() - start,
                            **losses.as_dict()))
        shown: dict[str, object] = {k: f"{v:.3g}" for k, v in losses.as_dict().items()
                                    if k in ("content", "style", "tv")}
        bar.set_postfix(dict(total=f"{losses.total:.4g}", **shown), refresh=False)
        bar.update(1)
        if config.save_every and iteration % config.save_every == 0:
            write(x)

    def finish(result: Synthesis) -> TransferSummary:
        """Write the image and the log of a result as one set; returns the run's summary."""
        summary = TransferSummary(config.output, result.losses, result.iterations, result.stop,
                                  result.completed, time.perf_counter() - start, objective.alpha,
                                  objective.beta, prepared.net.sha256, config, result.evaluations,
                                  history)
        write(result.image, dict(summary.as_record(), history=history) if config.log else None)
        return summary

    try:
        result = synthesise(objective, x0, optimiser=config.optimiser,
                            iterations=config.iterations, callback=after_iteration)
    except SynthesisInterrupted as interrupt:  # Ctrl-C or SIGTERM: save the last iterate, stop
        bar.close()
        raise TransferInterrupted(interrupt.signum, finish(interrupt.partial)) from interrupt
    except KeyboardInterrupt:
        bar.close()
        raise
    bar.close()
    return finish(result)
