"""A network file: NAME.onnx, a standard ONNX model that holds data only, and its record NAME.json.

The ONNX graph's outputs are named after the Caffe blobs they hold after a forward pass, and
`metadata_props` carries the blob names in order, the input's name and the conversion record
(`reproduce.blobs`, `reproduce.input`, `reproduce.record`, as JSON). The two files are one set:
the .json is written last and holds the .onnx file's sha256, which `read_network` checks, so a
run killed between the two writes, or files from two runs, are refused rather than mixed.

Nothing here unpickles: an old pickled network file (.pt) is recognised by its first bytes and
refused without being read further.
"""
import hashlib
import itertools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto

from reproduce.errors import ReproduceError
from reproduce.files import PathLike, atomic_path, remove_stale_temporaries, write_json
from reproduce.network import record_path
from reproduce.protowire import field_header

FORMAT = "reproduce.network/2"
PICKLE_STARTS = (b"PK\x03\x04", b"\x80")  # torch.save's zip container; a bare pickle
RECONVERT = "convert the Caffe model again with scripts/convert_caffe.py"
# ModelProto.graph, GraphProto.initializer and TensorProto.raw_data (onnx.proto field numbers)
MODEL_GRAPH, GRAPH_INITIALIZER, TENSOR_RAW_DATA = 7, 5, 9
Weights = list[tuple[str, npt.NDArray[np.float32]]]  # initializers: (name, float32 array)


class NetworkError(ReproduceError):
    """A network file that is missing or is not one this project wrote."""


@dataclass(frozen=True)
class NetworkFile:
    """A network file as read: the ONNX model, the Caffe blob names of its outputs in order, the
    input's name, the conversion record, and the file's sha256 (checked against its record)."""
    model: onnx.ModelProto
    blob_names: list[str]
    input_name: str
    record: dict[str, Any]
    sha256: str


def _initializer_chunks(name: str, array: npt.NDArray[np.float32]) -> list[bytes | memoryview]:
    """An initializer as ModelProto bytes: a graph holding just this tensor, whose raw data is
    the array's own memory. Protobuf merges repeated occurrences of the graph field, so such
    pieces after the rest of the model add initializers without the model ever being built
    (or copied) whole in memory."""
    array = np.ascontiguousarray(array, dtype="<f4")
    proto = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=array.shape)
    header = proto.SerializeToString() + field_header(TENSOR_RAW_DATA, array.nbytes)
    tensor = len(header) + array.nbytes
    graph = field_header(GRAPH_INITIALIZER, tensor)
    return [field_header(MODEL_GRAPH, len(graph) + tensor) + graph + header,
            memoryview(array.data).cast("B")]


def write_network(path: PathLike, model: onnx.ModelProto, weights: Weights, blob_names: Sequence[str],
                  input_name: str, meta: dict[str, Any]) -> dict[str, str]:
    """Write NAME.onnx (the model, then `weights` [(name, float32 array)] as its initializers)
    and then NAME.json (`meta` and the .onnx file's sha256), each atomically; stale temporaries
    of an earlier killed run are removed first. Returns {"onnx": path, "json": path}."""
    paths = dict(onnx=os.fspath(path), json=record_path(path))
    for p in paths.values():
        remove_stale_temporaries(p)
    del model.metadata_props[:]
    for key, value in (("format", FORMAT), ("blobs", list(blob_names)), ("input", input_name),
                       ("record", meta)):
        model.metadata_props.add(key=f"reproduce.{key}", value=json.dumps(value))
    digest = hashlib.sha256()
    with atomic_path(paths["onnx"]) as tmp, open(tmp, "wb") as f:
        pieces = (_initializer_chunks(name, array) for name, array in weights)
        for chunk in itertools.chain([model.SerializeToString()], itertools.chain.from_iterable(pieces)):
            f.write(chunk)
            digest.update(chunk)
    write_json(paths["json"], dict(meta, artifacts={os.path.basename(paths["onnx"]):
                                                    digest.hexdigest()}))
    return paths


def _check_record(path: str, data: bytes) -> str:
    """The sha256 of a .onnx file's bytes `data`; refuse the file if its record is missing or
    names another sha256."""
    record = record_path(path)
    try:
        with open(record, encoding="utf-8") as f:
            artifacts = json.load(f)["artifacts"]
    except FileNotFoundError:
        raise NetworkError(f"{path}: its record {os.path.basename(record)} is missing (an "
                           f"interrupted conversion?); {RECONVERT}") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise NetworkError(f"{record}: not a readable network record ({e}); {RECONVERT}") from None
    expected = artifacts.get(os.path.basename(path)) if isinstance(artifacts, dict) else None
    sha256 = hashlib.sha256(data).hexdigest()
    if expected != sha256:
        raise NetworkError(f"{path}: its sha256 is not the one its record "
                           f"{os.path.basename(record)} names (files of different or interrupted "
                           f"runs?); {RECONVERT}")
    return sha256


def read_network(path: PathLike) -> NetworkFile:
    """A network file, checked against its record. Never unpickles: an old pickled network file
    is refused from its first bytes."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise NetworkError(f"{path}: no such network file ({RECONVERT})")
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(PICKLE_STARTS):
        raise NetworkError(f"{path}: a pickled network file of an older version, not read (a "
                           f"pickle can run code); {RECONVERT}")
    try:
        model = onnx.load_from_string(data)
        props = {p.key: json.loads(p.value) for p in model.metadata_props}
    except (DecodeError, ValueError) as e:
        raise NetworkError(f"{path}: not a readable network file ({e})") from None
    if props.get("reproduce.format") != FORMAT:
        raise NetworkError(f"{path}: not a readable network file (not an ONNX file written by "
                           "scripts/convert_caffe.py)")
    sha256 = _check_record(path, data)
    return NetworkFile(model, props["reproduce.blobs"], props["reproduce.input"],
                       props["reproduce.record"], sha256)
