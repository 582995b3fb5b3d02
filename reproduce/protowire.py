"""The protobuf wire format's framing, both ways: fields found in a buffer without parsing their
payloads (to view a caffemodel's weights in place), and field headers written before a payload
(to stream an ONNX file's weights without building the model in memory)."""
from collections.abc import Iterator

from google.protobuf.message import DecodeError

LENGTH_DELIMITED = 2  # the wire type of strings, bytes, messages and packed arrays


def decode_varint(buf: memoryview | bytes, pos: int, end: int) -> tuple[int, int]:
    """A base-128 varint at buf[pos:end]: (value, the position after it)."""
    value = shift = 0
    while pos < end and shift < 64:
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return value, pos
        shift += 7
    raise DecodeError("bad varint")


def encode_varint(n: int) -> bytes:
    """n as a base-128 varint."""
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field_header(number: int, length: int) -> bytes:
    """A length-delimited field's key and length (the payload follows)."""
    return encode_varint(number << 3 | LENGTH_DELIMITED) + encode_varint(length)


def fields(buf: memoryview | bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(number, wire type, field start, value start, value end) of each field of the message at
    buf[start:end]: the framing only, so that payloads can be viewed in place."""
    pos = start
    while pos < end:
        field_start = pos
        key, pos = decode_varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value_end = decode_varint(buf, pos, end)[1]
        elif wire in (1, 5):
            value_end = pos + (8 if wire == 1 else 4)
        elif wire == LENGTH_DELIMITED:
            length, pos = decode_varint(buf, pos, end)
            value_end = pos + length
        else:
            raise DecodeError(f"wire type {wire}")
        if number == 0 or value_end > end:
            raise DecodeError("a field runs past the end of its message")
        yield number, wire, field_start, pos, value_end
        pos = value_end
