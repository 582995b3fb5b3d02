"""Panels on a Ray cluster: one Ray task per panel, inputs through the object store.

The driver puts the network files and the input images into Ray's object store once; each task
runs in a worker (reproduce.run.cluster_worker) and returns the image's bytes, so the machines
share no file system. The driver yields every panel as it finishes, to be written where the
caller wants it. Ray is optional (reproduce.run.ray_base). docs/cluster.md says how to start a
cluster.
"""
import contextlib
import glob
import hashlib
import os
import pathlib
import re
import socket
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Sequence
from types import ModuleType
from typing import Any, NamedTuple

from tqdm import tqdm

from reproduce.errors import ReproduceError
from reproduce.files import PathLike, atomic_path, write_json
from reproduce.run.cluster_worker import render_panel
from reproduce.run.config import TransferConfig, input_paths
from reproduce.run.config import check_outputs as check_config_outputs
from reproduce.run.ray_base import Attempts, import_ray
from reproduce.run.transfer import TransferSummary

ADDRESS = re.compile(r"[\w.\-]+:\d+")  # HOST:PORT of a cluster's head
PROBE_S = 10               # seconds to wait for a cluster's head to answer
MAX_RETRIES = 3            # tries after the first when a worker or node is lost mid-panel
CPUS_PER_PANEL = 4         # CPU threads a panel asks for on a cluster without GPUs
POLL_S = 0.2  # the driver sleeps in Python between looks: Ray, interrupted while it blocks,
              # raises a bare KeyboardInterrupt and SIGTERM's Interrupted(15) would be lost


class Finished(NamedTuple):
    """A panel done on the cluster: the image file's bytes (the format of config.output), the
    run's summary and log as run_transfer writes them (paths as the driver gave them), the node
    it ran on and the tries it took."""
    key: object
    image: bytes
    summary: TransferSummary
    log: dict[str, Any] | None  # summary and per-iteration history, if config.log was asked for
    node: dict[str, Any]        # host, ip, node_id, peak_rss_mib of the worker process so far
    attempts: int
    extras: dict[str, bytes] = {}  # other files the run wrote (scale control's new style image)


def connect(address: str = "auto", num_cpus: int | None = None) -> ModuleType:
    """Join or start a Ray cluster; returns the ray module. "auto": the cluster that RAY_ADDRESS
    or a local `ray start` names; "local": a private cluster on this machine (num_cpus: all of
    its CPUs unless given); "HOST:PORT": the cluster whose head listens there."""
    if address not in ("auto", "local") and not ADDRESS.fullmatch(address or ""):
        raise ReproduceError(f"--ray {address!r}: give auto, local or HOST:PORT")
    ray = import_ray()
    if ray.is_initialized():
        return ray
    if address not in ("auto", "local"):
        check_listening(address)
    try:
        if address == "local":
            ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
                     log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ReproduceError(f"--ray {address}: no Ray cluster reached ({first})") from None
    return ray


def check_listening(address: str, timeout: float = PROBE_S) -> None:
    """Fail in seconds, not the minutes Ray keeps trying, when nothing answers at HOST:PORT."""
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise ReproduceError(f"--ray {address}: no Ray cluster reached "
                             f"({e.strerror or type(e).__name__})") from None


def network_files(model: PathLike) -> dict[str, pathlib.Path]:
    """The network file and its same-stem siblings (NAME.onnx, NAME.json, ...): {name: path}."""
    model = pathlib.Path(model)
    if not model.is_file():
        raise ReproduceError(f"{model}: no such network file")
    siblings = sorted(p for p in model.parent.glob(f"{glob.escape(model.stem)}.*") if p.is_file())
    return {p.name: p for p in [model, *siblings]}


def config_inputs(config: TransferConfig) -> list[str]:
    """The input files a config reads: content, styles and an init image."""
    return [path for _, path in input_paths(config)]


def read_bytes(path: PathLike) -> bytes:
    try:
        return pathlib.Path(path).read_bytes()
    except OSError as e:
        raise ReproduceError(f"{path}: cannot read ({e.strerror or e})") from None


def check_outputs(tasks: Sequence[tuple[object, TransferConfig]]) -> None:
    """Fail before anything runs: keys must be unique, and every output and log must be writable
    on this machine, where the driver writes them, and not over an input (config.check_outputs)."""
    keys = [key for key, _ in tasks]
    if len(set(keys)) != len(keys):
        raise ReproduceError("two panels have the same key")
    for _, config in tasks:
        check_config_outputs(config)


def panel_resources(ray: ModuleType, cpus_per_panel: int | None) -> tuple[str, dict[str, int]]:
    """(device, Ray resource options) of one panel: a GPU where the cluster has any, else CPUs."""
    resources = ray.cluster_resources()
    if resources.get("GPU", 0) >= 1:
        return "cuda", dict(num_gpus=1, num_cpus=1)
    largest = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]), default=1)
    return "cpu", dict(num_cpus=max(1, min(cpus_per_panel or CPUS_PER_PANEL, int(largest))))


def run_panels_on_ray(tasks: Iterable[tuple[object, TransferConfig]],
                      cpus_per_panel: int | None = None, max_retries: int = MAX_RETRIES,
                      progress: bool = True,
                      before_panel: Callable[[object, int], None] | None = None
                      ) -> Generator[Finished, None, None]:
    """Render each (key, TransferConfig) as a Ray task on the connected cluster; yield a Finished
    for each panel as it arrives (in the order they finish).

    Each distinct network (config.model with its same-stem siblings) and input image goes into
    the object store once. A panel asks for one GPU where the cluster has GPUs (device "cuda"),
    else `cpus_per_panel` CPU threads (device "cpu"). A panel whose worker or node is lost is
    tried again, up to `max_retries` times. If the consumer stops early or Ctrl-C arrives, every
    outstanding task is cancelled; nothing unfinished is ever yielded. `before_panel(key,
    attempt)`, when given, runs in the worker before each try (to inject faults in tests).
    Close the generator (contextlib.closing) to cancel at once when leaving a loop early."""
    ray = import_ray()
    if not ray.is_initialized():
        raise ReproduceError("no Ray cluster: call reproduce.run.cluster.connect first")
    tasks = [(key, config) for key, config in tasks]
    if not all(isinstance(config, TransferConfig) for _, config in tasks):
        raise TypeError("each task is (key, TransferConfig)")
    check_outputs(tasks)
    network_sets: dict[str, tuple[str, dict[str, bytes]]] = {}
    image_bytes: dict[str, bytes] = {}
    inputs = {key: config_inputs(config) for key, config in tasks}
    for key, config in tasks:  # read every file before the first task starts
        if config.model not in network_sets:
            files = {name: read_bytes(path) for name, path in network_files(config.model).items()}
            network_sets[config.model] = (set_digest(files), files)
        for path in inputs[key]:
            if path not in image_bytes:
                image_bytes[path] = read_bytes(path)
    networks = {model: (sha, [ray.put(data)], pathlib.Path(model).name)
                for model, (sha, data) in network_sets.items()}
    images = {path: [ray.put(data)] for path, data in image_bytes.items()}
    device, resources = panel_resources(ray, cpus_per_panel)
    threads = int(resources["num_cpus"])  # 1 beside a GPU
    counter, run = attempt_counter(ray), uuid.uuid4().hex
    # a GPU worker ends after its panel: torch keeps the GPU it first saw, and Ray may give a
    # reused worker another one (ray-project/ray#29624); a CPU worker keeps its network loaded
    render = ray.remote(max_calls=1 if device == "cuda" else 0)(render_panel).options(
        max_retries=max_retries, retry_exceptions=False, **resources)
    pending: dict[Any, object] = {}
    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(tqdm(total=len(tasks), unit="panel", desc="panels",
                                       disable=not progress))
        stack.callback(cancel, ray, pending)
        for key, config in tasks:
            needed = {path: images[path] for path in inputs[key]}
            ref = render.remote(run, key, config, networks[config.model], needed, counter,
                                device, threads, before_panel)
            pending[ref] = key
        while pending:
            done, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
            if not done:
                time.sleep(POLL_S)
            for ref in done:
                key = pending.pop(ref)
                image, summary, log, where, attempts, extras = result(ray, ref, key)
                bar.update(1)
                bar.set_postfix_str(f"{key} on {where['host']}", refresh=False)
                yield Finished(key, image, summary, log, where, attempts, extras)


def set_digest(files: dict[str, bytes]) -> str:
    """The sha256 of a set of files {name: bytes}: names and contents."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"{name}\0{len(files[name])}\0".encode())
        h.update(files[name])
    return h.hexdigest()


_COUNTERS: dict[tuple[str, str], Any] = {}  # (Ray session, job): the Attempts actor of this driver


def attempt_counter(ray: ModuleType) -> Any:
    """This driver's Attempts actor, started on its own node the first time."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    context = ray.get_runtime_context()
    job = context.get_session_name(), context.get_job_id()
    if job not in _COUNTERS:
        here = NodeAffinitySchedulingStrategy(context.get_node_id(), soft=True)
        _COUNTERS[job] = ray.remote(Attempts).options(num_cpus=0, scheduling_strategy=here) \
            .remote()
    return _COUNTERS[job]


def result(ray: ModuleType, ref: Any, key: object) -> Any:
    """A task's return value; a bad input found in the worker is the one-line error it raised."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        if isinstance(e.cause, ReproduceError):
            raise ReproduceError(f"panel {key}: {e.cause}") from None
        raise


def cancel(ray: ModuleType, pending: dict[Any, object]) -> None:
    """Stop every task still running or waiting (Ctrl-C, an error, or the consumer left)."""
    for ref in pending:
        ray.cancel(ref, force=True)
    pending.clear()


def write_finished(finished: Finished, config: TransferConfig) -> None:
    """Write a finished panel's image, its other files and its log (when asked for) where its
    config says, each atomically."""
    for path, data in finished.extras.items():
        with atomic_path(path) as tmp:
            pathlib.Path(tmp).write_bytes(data)
    with atomic_path(config.output) as tmp:
        pathlib.Path(tmp).write_bytes(finished.image)
    if config.log and finished.log is not None:
        write_json(config.log, dict(finished.log, node=finished.node, attempts=finished.attempts))
