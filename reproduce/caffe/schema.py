"""A minimal schema of Caffe's `caffe.NetParameter`, built with protobuf's descriptor API.

Only the messages and fields a VGG/LeNet converter reads are declared; field numbers and enum
values are those of upstream `caffe.proto`. Text prototxts may carry more (solver hints, fillers):
`read_prototxt` skips fields this schema does not declare.

One deliberate deviation: `BlobProto.data` and `BlobProto.double_data` are declared `bytes`
rather than `repeated float/double [packed]`. Both are wire type 2 with the same payload, so a
real caffemodel parses unchanged, and the payload is never turned into Python floats. In a
caffemodel, `reproduce.caffe.net.read_caffemodel` strips the payloads before protobuf sees a blob and
views them in the mapped file instead; the tests write blobs through these fields.
"""
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_TYPES = {
    "int32": _F.TYPE_INT32, "uint32": _F.TYPE_UINT32, "int64": _F.TYPE_INT64,
    "float": _F.TYPE_FLOAT, "bool": _F.TYPE_BOOL, "string": _F.TYPE_STRING,
    "bytes": _F.TYPE_BYTES,
}

# message -> [(field name, number, label, type or message/enum name, default)]
_MESSAGES: dict[str, list[tuple[str, int, str, str, str | None]]] = {
    "BlobShape": [("dim", 1, "repeated", "int64", None)],
    "BlobProto": [
        ("num", 1, "optional", "int32", None), ("channels", 2, "optional", "int32", None),
        ("height", 3, "optional", "int32", None), ("width", 4, "optional", "int32", None),
        ("data", 5, "optional", "bytes", None), ("shape", 7, "optional", ".caffe.BlobShape", None),
        ("double_data", 8, "optional", "bytes", None),
    ],
    "NetStateRule": [("phase", 1, "optional", ".caffe.Phase", None)],
    "ConvolutionParameter": [
        ("num_output", 1, "optional", "uint32", None), ("bias_term", 2, "optional", "bool", "true"),
        ("pad", 3, "repeated", "uint32", None), ("kernel_size", 4, "repeated", "uint32", None),
        ("group", 5, "optional", "uint32", "1"), ("stride", 6, "repeated", "uint32", None),
        ("pad_h", 9, "optional", "uint32", None), ("pad_w", 10, "optional", "uint32", None),
        ("kernel_h", 11, "optional", "uint32", None), ("kernel_w", 12, "optional", "uint32", None),
        ("stride_h", 13, "optional", "uint32", None), ("stride_w", 14, "optional", "uint32", None),
        ("dilation", 18, "repeated", "uint32", None),
    ],
    "PoolingParameter": [
        ("pool", 1, "optional", ".caffe.PoolingParameter.PoolMethod", "MAX"),
        ("kernel_size", 2, "optional", "uint32", None), ("stride", 3, "optional", "uint32", "1"),
        ("pad", 4, "optional", "uint32", "0"),
        ("kernel_h", 5, "optional", "uint32", None), ("kernel_w", 6, "optional", "uint32", None),
        ("stride_h", 7, "optional", "uint32", None), ("stride_w", 8, "optional", "uint32", None),
        ("pad_h", 9, "optional", "uint32", None), ("pad_w", 10, "optional", "uint32", None),
        ("global_pooling", 12, "optional", "bool", "false"),
        ("round_mode", 13, "optional", ".caffe.PoolingParameter.RoundMode", "CEIL"),
    ],
    "InnerProductParameter": [
        ("num_output", 1, "optional", "uint32", None), ("bias_term", 2, "optional", "bool", "true"),
        ("axis", 5, "optional", "int32", "1"), ("transpose", 6, "optional", "bool", "false"),
    ],
    "DropoutParameter": [("dropout_ratio", 1, "optional", "float", "0.5")],
    "ReLUParameter": [("negative_slope", 1, "optional", "float", "0")],
    "SoftmaxParameter": [("axis", 2, "optional", "int32", "1")],
    "InputParameter": [("shape", 1, "repeated", ".caffe.BlobShape", None)],
    "LayerParameter": [
        ("name", 1, "optional", "string", None), ("type", 2, "optional", "string", None),
        ("bottom", 3, "repeated", "string", None), ("top", 4, "repeated", "string", None),
        ("blobs", 7, "repeated", ".caffe.BlobProto", None),
        ("include", 8, "repeated", ".caffe.NetStateRule", None),
        ("exclude", 9, "repeated", ".caffe.NetStateRule", None),
        ("convolution_param", 106, "optional", ".caffe.ConvolutionParameter", None),
        ("dropout_param", 108, "optional", ".caffe.DropoutParameter", None),
        ("inner_product_param", 117, "optional", ".caffe.InnerProductParameter", None),
        ("pooling_param", 121, "optional", ".caffe.PoolingParameter", None),
        ("relu_param", 123, "optional", ".caffe.ReLUParameter", None),
        ("softmax_param", 125, "optional", ".caffe.SoftmaxParameter", None),
        ("input_param", 143, "optional", ".caffe.InputParameter", None),
    ],
    "V1LayerParameter": [
        ("bottom", 2, "repeated", "string", None), ("top", 3, "repeated", "string", None),
        ("name", 4, "optional", "string", None),
        ("type", 5, "optional", ".caffe.V1LayerParameter.LayerType", None),
        ("blobs", 6, "repeated", ".caffe.BlobProto", None),
        ("convolution_param", 10, "optional", ".caffe.ConvolutionParameter", None),
        ("dropout_param", 12, "optional", ".caffe.DropoutParameter", None),
        ("inner_product_param", 17, "optional", ".caffe.InnerProductParameter", None),
        ("pooling_param", 19, "optional", ".caffe.PoolingParameter", None),
        ("relu_param", 30, "optional", ".caffe.ReLUParameter", None),
        ("include", 32, "repeated", ".caffe.NetStateRule", None),
        ("exclude", 33, "repeated", ".caffe.NetStateRule", None),
        ("softmax_param", 39, "optional", ".caffe.SoftmaxParameter", None),
    ],
    "NetParameter": [
        ("name", 1, "optional", "string", None),
        ("layers", 2, "repeated", ".caffe.V1LayerParameter", None),
        ("input", 3, "repeated", "string", None), ("input_dim", 4, "repeated", "int32", None),
        ("force_backward", 5, "optional", "bool", None),
        ("input_shape", 8, "repeated", ".caffe.BlobShape", None),
        ("layer", 100, "repeated", ".caffe.LayerParameter", None),
    ],
}

# (scope, enum name) -> {value name: number}
_ENUMS: dict[tuple[str | None, str], dict[str, int]] = {
    (None, "Phase"): {"TRAIN": 0, "TEST": 1},
    ("PoolingParameter", "PoolMethod"): {"MAX": 0, "AVE": 1, "STOCHASTIC": 2},
    ("PoolingParameter", "RoundMode"): {"CEIL": 0, "FLOOR": 1},
    ("V1LayerParameter", "LayerType"): {
        "NONE": 0, "ACCURACY": 1, "CONCAT": 3, "CONVOLUTION": 4, "DATA": 5, "DROPOUT": 6,
        "FLATTEN": 8, "INNER_PRODUCT": 14, "LRN": 15, "POOLING": 17, "RELU": 18, "SOFTMAX": 20,
        "SOFTMAX_LOSS": 21, "SPLIT": 22,
    },
}


def _enum(name: str, values: dict[str, int]) -> descriptor_pb2.EnumDescriptorProto:
    enum = descriptor_pb2.EnumDescriptorProto(name=name)
    for value_name, number in values.items():
        enum.value.add(name=value_name, number=number)
    return enum


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="reproduce/caffe_minimal.proto", package="caffe", syntax="proto2")
    for (scope, name), values in _ENUMS.items():
        if scope is None:
            file.enum_type.append(_enum(name, values))
    for message_name, fields in _MESSAGES.items():
        message = file.message_type.add(name=message_name)
        for (scope, name), values in _ENUMS.items():
            if scope == message_name:
                message.enum_type.append(_enum(name, values))
        for name, number, label, kind, default in fields:
            field = message.field.add(name=name, number=number)
            field.label = _F.LABEL_REPEATED if label == "repeated" else _F.LABEL_OPTIONAL
            if kind in _TYPES:
                field.type = _TYPES[kind]
            else:
                field.type_name = kind
                field.type = _F.TYPE_ENUM if kind.split(".")[-1] in _enum_names() else _F.TYPE_MESSAGE
            if default is not None:
                field.default_value = default
    return file


def _enum_names() -> set[str]:
    return {name for _, name in _ENUMS}


_pool = descriptor_pool.DescriptorPool()
_pool.Add(_file_descriptor())


def _message(name: str) -> Any:
    """The message class of caffe.NAME: made at run time, so its fields are unknown to a type
    checker (hence Any)."""
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"caffe.{name}"))


Proto = Any  # a message of this schema (NetParameter, a layer, a BlobProto, ...)
NetParameter = _message("NetParameter")
V1LayerParameter = _message("V1LayerParameter")
LayerParameter = _message("LayerParameter")
BlobProto = _message("BlobProto")
