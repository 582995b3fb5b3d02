"""Read Caffe's two files: a deploy prototxt (text protobuf: the graph) and a caffemodel (binary
protobuf: the weights), old and new format.

The caffemodel is mapped, not read: only the wire format's framing of its layers and blobs is
walked here (reproduce.protowire), protobuf parses every message but the weight payloads, and
the payloads stay float32 views of the mapped file until they are used. A layer that is not
converted is never read.
"""
import math
import mmap
import os
from dataclasses import dataclass

import numpy as np
from google.protobuf import text_format
from google.protobuf.message import DecodeError

from reproduce.caffe.schema import BlobProto, LayerParameter, NetParameter, Proto, V1LayerParameter
from reproduce.errors import ReproduceError
from reproduce.protowire import LENGTH_DELIMITED, fields

V1_LAYERS, LAYERS = 2, 100   # NetParameter: old-format `layers`, new-format `layer`
V1_BLOBS, BLOBS = 6, 7       # V1LayerParameter.blobs, LayerParameter.blobs
DATA, DOUBLE_DATA = 5, 8     # BlobProto's payloads


class CaffeError(ReproduceError):
    """A Caffe file that cannot be read or converted; the message says what and where."""


def read_prototxt(path: str | os.PathLike[str]) -> Proto:
    """Parse a text prototxt (fields the minimal schema lacks, such as fillers, are skipped)."""
    net = NetParameter()
    try:
        with open(path, encoding="utf-8") as f:
            text_format.Parse(f.read(), net, allow_unknown_field=True)
    except FileNotFoundError:
        raise CaffeError(f"{path}: no such prototxt") from None
    except OSError as e:
        raise CaffeError(f"{path}: cannot read the prototxt ({e.strerror})") from None
    except (text_format.ParseError, UnicodeDecodeError) as e:
        raise CaffeError(f"{path}: not a readable Caffe prototxt ({e})") from None
    return net


@dataclass
class RawBlob:
    """A caffemodel blob: its BlobProto without the payload, and the payload where it lies."""
    proto: Proto       # BlobProto with num/channels/height/width or shape
    payload: memoryview  # little-endian floats: a view of the mapped file
    dtype: np.dtype      # <f4 for `data`, <f8 for `double_data`

    @classmethod
    def of(cls, blob: Proto) -> "RawBlob":
        """A RawBlob of an in-memory BlobProto (as the tests build them)."""
        return _raw_blob(memoryview(blob.SerializeToString()), 0, blob.ByteSize())


@dataclass
class Caffemodel:
    """A caffemodel's weights: {layer name: [RawBlob]}, and its layers' names in file order."""
    path: str
    size: int
    layers: list[str]
    weights: dict[str, list[RawBlob]]


def _raw_blob(buf: memoryview, start: int, end: int) -> RawBlob:
    """The BlobProto at buf[start:end]: protobuf parses all but the payload, which is viewed."""
    rest, payload, dtype = bytearray(), memoryview(b""), np.dtype("<f4")
    for number, wire, field_start, value_start, value_end in fields(buf, start, end):
        if number in (DATA, DOUBLE_DATA):
            if wire != LENGTH_DELIMITED:
                raise DecodeError("unpacked float data")
            payload = buf[value_start:value_end]
            dtype = np.dtype("<f4" if number == DATA else "<f8")
        else:
            rest += buf[field_start:value_end]
    return RawBlob(BlobProto.FromString(bytes(rest)), payload, dtype)


def _layer(buf: memoryview, start: int, end: int, v1: bool) -> tuple[str, list[RawBlob]]:
    """(name, [RawBlob]) of the layer message at buf[start:end]."""
    message, blobs_field = (V1LayerParameter, V1_BLOBS) if v1 else (LayerParameter, BLOBS)
    rest, blobs = bytearray(), []
    for number, _, field_start, value_start, value_end in fields(buf, start, end):
        if number == blobs_field:
            blobs.append(_raw_blob(buf, value_start, value_end))
        else:
            rest += buf[field_start:value_end]
    return str(message.FromString(bytes(rest)).name), blobs


def read_caffemodel(path: str | os.PathLike[str]) -> Caffemodel:
    """A binary caffemodel's weights, mapped rather than read: the payloads stay views of the
    file until used."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            buf = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)) if size \
                else memoryview(b"")
    except FileNotFoundError:
        raise CaffeError(f"{path}: no such caffemodel") from None
    except OSError as e:
        raise CaffeError(f"{path}: cannot read the caffemodel ({e.strerror})") from None
    layers, weights = [], {}
    try:
        for number, wire, _, start, end in fields(buf, 0, size):
            if number in (V1_LAYERS, LAYERS) and wire == LENGTH_DELIMITED:
                name, blobs = _layer(buf, start, end, v1=number == V1_LAYERS)
                layers.append(name)
                if blobs:
                    weights[name] = blobs
    except DecodeError as e:
        raise CaffeError(f"{path}: truncated or corrupt caffemodel ({e})") from None
    if not layers:
        raise CaffeError(f"{path}: not a caffemodel (no layers found)")
    return Caffemodel(os.fspath(path), size, layers, weights)


def blob_array(blob: RawBlob, where: str) -> np.ndarray:
    """A RawBlob as a float32 array in its declared shape (legacy num/channels/... or shape.dim):
    a view of the file for float32 data. Non-finite weights are refused."""
    proto = blob.proto
    if proto.HasField("shape"):
        shape = tuple(proto.shape.dim)
    else:
        shape = (proto.num, proto.channels, proto.height, proto.width)
    payload, dtype = blob.payload, blob.dtype
    if not len(payload):
        raise CaffeError(f"{where}: blob holds no data")
    if len(payload) % dtype.itemsize:
        raise CaffeError(f"{where}: blob data of {len(payload)} bytes is not a whole number of "
                         f"{dtype.itemsize}-byte floats (corrupt caffemodel)")
    values = np.frombuffer(payload, dtype=dtype).astype(np.float32, copy=False)
    if values.size != math.prod(shape):
        raise CaffeError(f"{where}: blob declares shape {shape} but holds {values.size} values "
                         "(truncated or corrupt caffemodel)")
    if not np.isfinite(values.sum(dtype=np.float64)):  # NaN or ±inf anywhere; no copy
        raise CaffeError(f"{where}: non-finite weights (NaN or infinity)")
    return values.reshape(shape)
