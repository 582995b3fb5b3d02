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
import mmap
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto

from reproduce.files import PathLike, atomic_path, remove_stale_temporaries, write_json
from reproduce.network import NetworkError, record_path
from reproduce.network.contents import check_contents
from reproduce.protowire import field_header

FORMAT = "reproduce.network/2"
PICKLE_STARTS = (b"PK\x03\x04", b"\x80")  # torch.save's zip container; a bare pickle
RECONVERT = "convert the Caffe model again with scripts/convert_caffe.py"
# ModelProto.graph, GraphProto.initializer and TensorProto.raw_data (onnx.proto field numbers)
MODEL_GRAPH, GRAPH_INITIALIZER, TENSOR_RAW_DATA = 7, 5, 9
Weights = list[tuple[str, npt.NDArray[np.float32]]]  # initializers: (name, float32 array)


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
    name = os.path.basename(paths["onnx"])
    write_json(paths["json"], dict(meta, artifacts={name: digest.hexdigest()},
                                   artifact_bytes={name: os.path.getsize(paths["onnx"])}))
    return paths


def read_record(path: str) -> dict[str, Any]:
    """A network file's record (NAME.json), or one line saying why it cannot be used."""
    record = record_path(path)
    try:
        with open(record, encoding="utf-8") as f:
            meta = json.load(f)
        if not isinstance(meta, dict) or not isinstance(meta.get("artifacts"), dict):
            raise ValueError("no artifacts")
        return meta
    except FileNotFoundError:
        raise NetworkError(f"{path}: its record {os.path.basename(record)} is missing (an "
                           f"interrupted conversion?); {RECONVERT}") from None
    except (OSError, ValueError, RecursionError) as e:
        raise NetworkError(f"{record}: not a readable network record ({e}); {RECONVERT}") from None


def _check_record(path: str, view: memoryview) -> str:
    """The sha256 of the network file's bytes; one line unless its size (when the record gives
    it) and its sha256 are the ones its record names."""
    meta, name = read_record(path), os.path.basename(path)
    sizes = meta.get("artifact_bytes")
    expected_size = sizes.get(name) if isinstance(sizes, dict) else None
    if expected_size is not None and expected_size != len(view):
        raise NetworkError(f"{path}: {len(view):,} bytes, not the {expected_size:,} its record "
                           f"{os.path.basename(record_path(path))} names; {RECONVERT}")
    sha256 = hashlib.sha256(view).hexdigest()
    if meta["artifacts"].get(name) != sha256:
        raise NetworkError(f"{path}: its sha256 is not the one its record "
                           f"{os.path.basename(record_path(path))} names (files of different or "
                           f"interrupted runs?); {RECONVERT}")
    return sha256


def read_network(path: PathLike) -> NetworkFile:
    """A network file, checked before it is parsed: what it holds (reproduce.network.contents)
    from its framing alone, its size against its record's, then its sha256. Never unpickles: an
    old pickled network file is refused from its first bytes."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise NetworkError(f"{path}: no such network file ({RECONVERT})")
    with open(path, "rb") as f:
        if f.read(len(max(PICKLE_STARTS, key=len))).startswith(PICKLE_STARTS):
            raise NetworkError(f"{path}: a pickled network file of an older version, not read (a "
                               f"pickle can run code); {RECONVERT}")
        if os.fstat(f.fileno()).st_size == 0:
            raise NetworkError(f"{path}: not a readable network file (empty)")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                check_contents(path, view)  # the framing only: no weight is read yet
                sha256 = _check_record(path, view)
                data = bytes(view)
            finally:
                view.release()
    try:
        model = onnx.load_from_string(data)
        props = {p.key: json.loads(p.value) for p in model.metadata_props}
    except (DecodeError, ValueError) as e:
        raise NetworkError(f"{path}: not a readable network file ({e})") from None
    if props.get("reproduce.format") != FORMAT:
        raise NetworkError(f"{path}: not a readable network file (not an ONNX file written by "
                           "scripts/convert_caffe.py)")
    return NetworkFile(model, props["reproduce.blobs"], props["reproduce.input"],
                       props["reproduce.record"], sha256)
