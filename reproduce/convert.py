"""Caffe files -> NAME.onnx, NAME.pt (the torch network) and NAME.json (provenance), atomically."""
import os
from importlib.metadata import version

import onnx
import onnx2torch

from reproduce.caffe import read_net
from reproduce.files import atomic_path, file_digest, write_json
from reproduce.network import save_network
from reproduce.onnx_export import OPSET, to_onnx


def convert(prototxt, caffemodel, out_dir, name=None, until=None):
    """Convert a Caffe model; returns the paths written {"onnx", "torch", "json"}."""
    name = name or os.path.splitext(os.path.basename(caffemodel))[0]
    net = read_net(prototxt, caffemodel, until)
    model = to_onnx(net)
    module = onnx2torch.convert(model)
    paths = {kind: os.path.join(out_dir, f"{name}.{ext}")
             for kind, ext in (("onnx", "onnx"), ("torch", "pt"), ("json", "json"))}
    meta = dict(
        name=name,
        sources={os.path.basename(p): file_digest(p) for p in (prototxt, caffemodel)},
        until=until,
        opset=OPSET,
        input=dict(name=net.input_name, shape=list(net.input_shape)),
        layers=[dict(name=l.name, type=l.type, top=l.tops[0], shape=list(l.out_shape))
                for l in net.layers],
        versions={pkg: version(pkg) for pkg in ("onnx", "onnx2torch", "torch", "protobuf")},
    )
    with atomic_path(paths["onnx"]) as tmp:
        onnx.save(model, tmp)
    save_network(paths["torch"], module, net.blob_values.keys(), net.input_name, meta)
    write_json(paths["json"], dict(meta, artifacts={
        os.path.basename(paths[k]): file_digest(paths[k]) for k in ("onnx", "torch")}))
    return paths
