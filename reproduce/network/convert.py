"""Caffe files -> a network file: NAME.onnx (weights and graph, data only) and NAME.json (the
record: sha256 of the sources and of NAME.onnx, layers and shapes, opset, library versions)."""
import os
from importlib.metadata import version

from reproduce.caffe.net import read_net
from reproduce.files import PathLike, check_apart, check_writable_folder, file_digest
from reproduce.network import record_path
from reproduce.network.file import write_network
from reproduce.network.onnx_export import OPSET, to_onnx


def convert(prototxt: PathLike, caffemodel: PathLike, out_dir: PathLike, name: str | None = None,
            until: str | None = None) -> dict[str, str]:
    """Convert a Caffe model; returns the paths written {"onnx", "json"}. The output folder is
    checked before any work; the .json is written last and names the .onnx file's sha256."""
    name = name or os.path.splitext(os.path.basename(caffemodel))[0]
    check_writable_folder(out_dir, "out_dir")
    onnx_path = os.path.join(out_dir, f"{name}.onnx")
    check_apart({"the network file": onnx_path, "its record": record_path(onnx_path)},
                {"the prototxt": prototxt, "the caffemodel": caffemodel})
    net = read_net(prototxt, caffemodel, until)
    model, weights = to_onnx(net)
    meta = dict(
        name=name,
        sources={os.path.basename(p): file_digest(p) for p in (prototxt, caffemodel)},
        until=until,
        opset=OPSET,
        input=dict(name=net.input_name, shape=list(net.input_shape)),
        layers=[dict(name=l.name, type=l.type, top=l.tops[0], shape=list(l.out_shape))
                for l in net.layers],
        versions={pkg: version(pkg) for pkg in ("onnx", "protobuf")},
    )
    return write_network(onnx_path, model, weights, net.blobs,
                         net.input_name, meta)
