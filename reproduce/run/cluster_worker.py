"""The worker side of the Ray backend: one panel in a Ray worker process, from the network files
and images the driver put into the object store, returning the image's bytes (the machines share
no file system)."""
import atexit
import dataclasses
import json
import os
import pathlib
import shutil
import socket
import tempfile
from collections.abc import Callable
from typing import Any

import torch

from reproduce.network.load import Network, loaded_network
from reproduce.network.runtime import configure_runtime
from reproduce.process import peak_rss_bytes
from reproduce.run.config import TransferConfig, new_style_path, relocated
from reproduce.run.ray_base import import_ray
from reproduce.run.transfer import TransferSummary, run_transfer

_FOLDERS: dict[str, str] = {}  # network set's sha256: this worker's folder with its files


def _local_network(sha: str, ref: list[Any], model_name: str, pooling: str, device: str,
                   precision: str) -> tuple[str, Network]:
    """The network file in this worker (written once per process) and the network on `device`,
    loaded once per process, network and pooling (network.loaded_network)."""
    ray = import_ray()
    if sha not in _FOLDERS:
        folder = tempfile.mkdtemp(prefix="reproduce-network-")
        atexit.register(shutil.rmtree, folder, True)
        for name, data in ray.get(ref[0]).items():
            pathlib.Path(folder, name).write_bytes(data)
        _FOLDERS[sha] = folder
    path = os.path.join(_FOLDERS[sha], model_name)
    return path, loaded_network(path, pooling, device, precision)


def render_panel(run: str, key: object, config: TransferConfig,
                 network: tuple[str, list[Any], str], images: dict[str, list[Any]], counter: Any,
                 device: str, threads: int, before_panel: Callable[[object, int], None] | None
                 ) -> tuple[bytes, TransferSummary, dict[str, Any] | None, dict[str, Any], int,
                            dict[str, bytes]]:
    """One panel in a Ray worker; returns (image bytes, summary, log, node, attempt, the other
    files it wrote by the driver's path).

    network: (sha256, [object ref of {name: bytes}], file name); images: {driver path: [object
    ref of its bytes]} (refs inside lists, fetched only when needed)."""
    ray = import_ray()
    attempt = ray.get(counter.begin.remote((run, key)))
    if before_panel is not None:
        before_panel(key, attempt)
    torch.set_num_threads(threads)
    configure_runtime(device)  # a worker starts with torch's defaults (TF32 on in cuDNN)
    sha, ref, model_name = network
    model, net = _local_network(sha, ref, model_name, config.pooling, device, config.precision)
    folder = tempfile.mkdtemp(prefix="reproduce-panel-")
    try:
        local = {}
        for i, (path, image_ref) in enumerate(images.items()):
            local[path] = os.path.join(folder, f"input{i}{pathlib.Path(path).suffix}")
            pathlib.Path(local[path]).write_bytes(ray.get(image_ref[0]))
        here = dataclasses.replace(
            relocated(config, local.__getitem__), model=model, device=device,
            output=os.path.join(folder, "out" + pathlib.Path(config.output).suffix),
            log=os.path.join(folder, "log.json") if config.log else None)
        driver = dataclasses.replace(config, device=device)
        done = run_transfer(here, net=net, progress=False)
        made = done.new_style and dict(done.new_style, file=new_style_path(config))
        summary = dataclasses.replace(done, output=config.output, config=driver, new_style=made)
        log = dict(json.loads(pathlib.Path(here.log).read_text()), output=config.output,
                   config=dataclasses.asdict(driver)) if here.log else None
        image = pathlib.Path(here.output).read_bytes()
        written, wanted = new_style_path(here), new_style_path(config)
        extras = {wanted: pathlib.Path(written).read_bytes()} if written and wanted else {}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if device.startswith("cuda"):
            torch.cuda.empty_cache()  # keep only the network between panels
    node = dict(host=socket.gethostname(), ip=ray.util.get_node_ip_address(),
                node_id=ray.get_runtime_context().get_node_id(),
                peak_rss_mib=round(peak_rss_bytes() / 2**20, 1))
    return image, summary, log, node, attempt, extras
