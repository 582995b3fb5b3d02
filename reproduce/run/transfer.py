"""Style transfer as a run: prepare (reproduce.run.prepare), synthesise (reproduce.optim), and
report, save and log."""
import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import torch
from tqdm import tqdm

from reproduce.errors import Interrupted
from reproduce.files import write_json
from reproduce.image.convention import deprocess
from reproduce.image.files import save_image
from reproduce.method.objective import Losses
from reproduce.network.load import Network
from reproduce.optim.synthesis import Synthesis, SynthesisInterrupted, synthesise
from reproduce.run.config import TransferConfig
from reproduce.run.prepare import initial_image, prepare


@dataclass
class TransferSummary:
    """What a transfer did: the image it wrote, its losses, the iterations done, why it stopped,
    whether it did what was asked, the seconds, α and β, the network's sha256 and the config."""
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

    def as_record(self) -> dict[str, Any]:
        """As the log (--log) and the figures' records write it."""
        return dict(output=self.output, losses=self.losses.as_dict(), iterations=self.iterations,
                    stop=self.stop, completed=self.completed, seconds=self.seconds,
                    alpha=self.alpha, beta=self.beta, model_sha256=self.model_sha256,
                    config=dataclasses.asdict(self.config))


class TransferInterrupted(Interrupted):
    """Ctrl-C or SIGTERM during a transfer: `summary` is what was written (the last iterate and
    its log, marked unfinished), None if it stopped before the synthesis began."""

    def __init__(self, signum: int, summary: TransferSummary | None) -> None:
        super().__init__(signum)
        self.summary = summary


def run_transfer(config: TransferConfig, net: Network | None = None,
                 progress: bool = True) -> TransferSummary:
    """Synthesise config.output by L-BFGS-B on eq. 7 and return its summary.

    Inputs and outputs are checked before the network loads, the memory before any image does.
    On Ctrl-C or SIGTERM the last iterate and the log are written, marked completed False, and
    TransferInterrupted is raised with that summary."""
    torch.manual_seed(config.seed)
    prepared = prepare(config, net)
    objective = prepared.objective
    x0 = initial_image(config, prepared)
    history: list[dict[str, Any]] = []
    start = time.perf_counter()
    bar = tqdm(total=config.iterations, disable=not progress, unit="it", desc=config.optimiser)

    def write(x: torch.Tensor) -> None:
        """Write the image of an iterate, in colour as the colour preservation gives it."""
        save_image(config.output, prepared.colour.output(deprocess(x), prepared.content))

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
        """Write the image (and the log) of a result; returns the run's summary."""
        write(result.image)
        summary = TransferSummary(config.output, result.losses, result.iterations, result.stop,
                                  result.completed, time.perf_counter() - start, objective.alpha,
                                  objective.beta, prepared.net.sha256, config)
        if config.log:
            write_json(config.log, dict(summary.as_record(), history=history))
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
