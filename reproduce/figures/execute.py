"""Rendering panels. A backend takes the pending tasks and yields each (task, result) as it
finishes; the driver writes records and figures. Two backends: in this process, and a pool of
worker processes (one per GPU, or several on the CPU), and a Ray cluster. On Ctrl-C or SIGTERM
the driver closes the backend, which stops its workers; what they had not finished yields
nothing. Every result says where the panel ran (node) and how many tries it took (attempts)."""
import contextlib
import dataclasses
import hashlib
import multiprocessing
import os
import queue
import signal
import socket
import traceback
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

import torch

from reproduce.errors import ReproduceError, interrupts_raise
from reproduce.files import file_digest
from reproduce.network.load import loaded_network
from reproduce.network.runtime import configure_runtime
from reproduce.process import die_with_parent
from reproduce.run import cluster
from reproduce.run.config import TransferConfig
from reproduce.run.transfer import TransferSummary, run_transfer

STOP_SECONDS = 10  # a stopped worker writes its image; after this long it is killed


@dataclass(frozen=True)
class Task:
    """One panel to render: its key (paper/figure/panel) and its config."""
    key: str
    config: TransferConfig


@dataclass
class PanelResult:
    """A rendered panel, as its record holds it: the transfer's results, where it ran, the
    image's sha256 and the tries it took."""
    completed: bool
    stop: str
    iterations: int
    losses: dict[str, Any]
    alpha: float
    beta: float
    seconds: float
    model_sha256: str
    device: str
    image_sha256: str
    node: dict[str, Any]
    attempts: int
    evaluations: int = 0
    history: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    stages: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # --pyramid's
    new_style: dict[str, Any] | None = None  # scale control's new style image

    def as_record(self) -> dict[str, Any]:
        """As the panel's record holds it (stages and the new style image only where made)."""
        record = dataclasses.asdict(self)
        return {k: v for k, v in record.items() if k not in ("stages", "new_style") or v}


HISTORY = ("iteration", "seconds", "total", "content", "style")  # kept per iteration in records


def columns(history: list[dict[str, Any]]) -> dict[str, list[float]]:
    """A transfer's per-iteration losses as a record keeps them: a list per quantity."""
    return {key: [entry[key] for entry in history] for key in HISTORY}


@dataclass
class PanelFailure:
    """A panel that failed: one line, and the traceback of an unexpected error (None for bad
    input, a ReproduceError)."""
    error: str
    traceback: str | None = None


Outcome = PanelResult | PanelFailure
Rendering = Generator[tuple[Task, Outcome], None, None]  # each task as it finishes
Backend = Callable[[list[Task]], Rendering]


def panel_result(summary: TransferSummary, device: str, image_sha256: str, node: dict[str, Any],
                 attempts: int) -> PanelResult:
    """What a panel's record needs, from a transfer's summary, whichever backend ran it."""
    return PanelResult(summary.completed, summary.stop, summary.iterations,
                       summary.losses.as_dict(), summary.alpha, summary.beta, summary.seconds,
                       summary.model_sha256, device, image_sha256, node, attempts,
                       summary.evaluations, columns(summary.history), summary.stages,
                       summary.new_style)


def failure(error: Exception) -> PanelFailure:
    """A PanelFailure of the exception being handled, its traceback kept unless it is bad input."""
    if isinstance(error, ReproduceError):
        return PanelFailure(str(error))
    return PanelFailure(f"{type(error).__name__}: {error}", traceback.format_exc())


def render(config: TransferConfig, progress: bool = False) -> PanelResult:
    """Run one panel's transfer; returns what its record needs (the image's sha256 included)."""
    net = loaded_network(config.model, config.pooling, config.device, config.precision)
    summary = run_transfer(config, net=net, progress=progress)
    return panel_result(summary, config.device, file_digest(config.output),
                        dict(host=socket.gethostname()), attempts=1)


def started(task: Task, device: str) -> None:
    print(f"{task.key}: started on {device}", flush=True)


def in_process(tasks: list[Task], progress: bool = False) -> Rendering:
    """Render the tasks one after the other in this process."""
    for task in tasks:
        started(task, task.config.device)
        try:
            outcome: Outcome = render(task.config, progress)
        except Exception as e:  # the driver records it and stops the run
            outcome = failure(e)
        yield task, outcome


def worker_devices(device: str, jobs: int) -> list[str]:
    """The devices of the worker processes: one per GPU where several exist, else `jobs` CPU
    processes; an empty list renders in this process."""
    if device.startswith("cuda"):
        count = torch.cuda.device_count() if jobs > 1 else 0
        return [f"cuda:{i}" for i in range(min(jobs, count))] if count > 1 else []
    return [device] * jobs if jobs > 1 else []


def _worker(device: str, threads: int, tasks: "multiprocessing.Queue[Task | None]",
            results: "multiprocessing.Queue[tuple[str, Outcome]]", driver: int) -> None:
    """A worker process: render tasks on its device until told to stop (None). SIGTERM (from
    the driver) or SIGINT stops it as a transfer stops: its image written, marked unfinished.
    If the driver dies (kill -9), the worker ends at once, writing nothing more."""
    die_with_parent(driver)
    torch.set_num_threads(threads)
    configure_runtime(device)  # a spawned process starts with the defaults
    with contextlib.suppress(KeyboardInterrupt), interrupts_raise():
        while (task := tasks.get()) is not None:
            try:
                started(task, device)
                outcome: Outcome = render(dataclasses.replace(task.config, device=device))
            except Exception as e:  # sent to the driver, which records it and stops the run
                outcome = failure(e)
            results.put((task.key, outcome))


def process_pool(tasks: list[Task], devices: list[str]
                 ) -> Rendering:
    """Render the tasks in one worker process per device; yields each as it finishes. Closing
    the generator (the driver does on any exception, Ctrl-C and SIGTERM included) kills the
    workers, so nothing they had not finished is reported."""
    context = multiprocessing.get_context("spawn")
    todo, results = context.Queue(), context.Queue()
    by_key = {task.key: task for task in tasks}
    for task in [*tasks, *[None] * len(devices)]:
        todo.put(task)
    threads = max(1, (os.cpu_count() or 1) // len(devices))
    workers = [context.Process(target=_worker, args=(d, threads, todo, results, os.getpid()),
                               daemon=True) for d in devices]
    sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)  # workers inherit: the driver stops them
    try:
        for worker in workers:
            worker.start()
    finally:
        signal.signal(signal.SIGINT, sigint)
    try:
        for _ in tasks:
            key, outcome = next_result(results, workers)
            yield by_key[key], outcome
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join(STOP_SECONDS)
            if worker.is_alive():
                worker.kill()
                worker.join()
        todo.cancel_join_thread()
        results.cancel_join_thread()


def next_result(results: "multiprocessing.Queue[tuple[str, Outcome]]",
                workers: Sequence[BaseProcess]) -> tuple[str, Outcome]:
    """The next finished task from the workers; an error if one of them died."""
    while True:
        try:
            return results.get(timeout=0.2)
        except queue.Empty:
            dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            if dead:
                raise ReproduceError(f"a worker process died (exit code {dead[0]})") from None


def backend_for(device: str, jobs: int, progress: bool = False) -> Backend:
    """The backend for `jobs` parallel panels on `device`: a function of the tasks."""
    def backend(tasks: list[Task]) -> Rendering:
        devices = worker_devices(device, min(jobs, len(tasks)))
        return process_pool(tasks, devices) if devices else in_process(tasks, progress)
    return backend


def ray_backend(cpus_per_panel: int | None = None, progress: bool = False,
                before_panel: Callable[[object, int], None] | None = None) -> Backend:
    """The backend of a Ray cluster (reproduce.run.cluster; connect to it first): each panel one Ray
    task, its image written here atomically as it arrives. Closing it cancels the tasks still
    running or waiting. `cpus_per_panel` and `before_panel` as cluster.run_panels_on_ray."""
    def backend(tasks: list[Task]) -> Rendering:
        if not tasks:
            return
        by_key = {task.key: task for task in tasks}
        panels = cluster.run_panels_on_ray([(t.key, t.config) for t in tasks], cpus_per_panel,
                                           progress=progress, before_panel=before_panel)
        with contextlib.closing(panels):
            for done in panels:
                task = by_key[str(done.key)]
                cluster.write_finished(done, task.config)
                yield task, ray_result(done)
    return backend


def ray_result(done: cluster.Finished) -> PanelResult:
    """What a panel's record needs from a cluster.Finished, as render returns it here."""
    return panel_result(done.summary, done.summary.config.device,
                        hashlib.sha256(done.image).hexdigest(), done.node, done.attempts)
