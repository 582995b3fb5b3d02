"""The normalised VGG-19 of the CVPR paper: every conv filter's mean activation over a set of
images and all positions made one, by a rescaling that changes each blob by per-channel factors.

For conv layer l with per-filter means k_l (of its rectified blob, the Caffe blob ReLU writes in
place), W_l[o] and b_l[o] are divided by k_l[o], and every next conv layer n reading l (through
ReLU and pooling) gets W_n[:, o] multiplied by k_l[o]. ReLU, max and average pooling and zero
padding are positively homogeneous per channel (f(k·x) = k·f(x) for k > 0), so by induction over
the layers the normalised blob of l is the original blob divided by k_l, and layer n's
pre-activation is W_n·k_l·(x/k_l)/k_n = z_n/k_n. Hence all means can be taken once, on the
original network, and applied together: each filter's mean on the normalised network is
k_l/k_l = 1, up to float32 rounding (magnified for a filter that fires only faintly). A layer
with no next conv layer (conv5_4 in a network converted until pool5) has its blobs, and pool5,
divided by its means: the network's outputs change there.

Means are taken with the file's own pooling (max for VGG-19); the rescaling stays exact after a
swap to average pooling, but the means are then only near one. A filter with mean 0 (it never
fires on these images) has k = 1: it is left unscaled and reported.
"""
import os
from collections.abc import Iterable, Sequence

import onnx
import torch
from onnx import numpy_helper
from torch import fx, nn
from tqdm import tqdm

from reproduce.errors import ReproduceError
from reproduce.files import PathLike, check_apart, check_output_file, file_digest
from reproduce.image import IMAGE_SUFFIXES
from reproduce.image.convention import preprocess
from reproduce.image.files import image_files, load_image
from reproduce.network import record_path
from reproduce.network.file import Weights, read_network, write_network
from reproduce.network.load import Network, to_torch
from reproduce.network.stages import output_nodes

HOMOGENEOUS = (nn.ReLU, nn.MaxPool2d, nn.AvgPool2d)  # f(k·x) = k·f(x) per channel, k > 0


ConvLayer = tuple[str, str, list[str]]  # a conv layer, its rectified blob, the next conv layers


class NormaliseError(ReproduceError):
    """An image folder or a network that cannot be normalised."""


def _conv(module: fx.GraphModule, name: str) -> nn.Conv2d:
    conv = module.get_submodule(name)
    assert isinstance(conv, nn.Conv2d)  # conv_layers found it as one
    return conv


def _submodule(module: fx.GraphModule, node: fx.Node) -> nn.Module | None:
    return module.get_submodule(str(node.target)) if node.op == "call_module" else None


def _next_convs(module: fx.GraphModule, node: fx.Node, conv: str) -> list[str]:
    """The conv layers reading `node` through homogeneous layers only."""
    found: list[str] = []
    pending = list(node.users)
    while pending:
        user = pending.pop()
        layer = _submodule(module, user)
        if isinstance(layer, nn.Conv2d):
            found.append(str(user.target))
        elif isinstance(layer, HOMOGENEOUS):
            pending += user.users
        elif user.op != "output":
            raise NormaliseError(f"layer {user.name} reads {conv}'s output and is not a conv, ReLU "
                                 "or pooling layer (convert the network --until pool5)")
    return found


def conv_layers(module: fx.GraphModule, blob_names: Sequence[str]) -> list[ConvLayer]:
    """[(conv layer, its rectified blob, [next conv layers])] in forward order."""
    blob_of = dict(zip(output_nodes(module), blob_names))
    layers: list[ConvLayer] = []
    for node in module.graph.nodes:
        conv = _submodule(module, node)
        if not isinstance(conv, nn.Conv2d):
            continue
        if conv.groups != 1:
            raise NormaliseError(f"conv layer {node.target}: grouped convolution is not supported")
        relu = next(iter(node.users), None)
        if len(node.users) != 1 or relu is None or relu not in blob_of \
                or not isinstance(_submodule(module, relu), nn.ReLU):
            raise NormaliseError(f"conv layer {node.target}: no blob holds its ReLU output")
        layers.append((str(node.target), blob_of[relu], _next_convs(module, relu, str(node.target))))
    if not layers:
        raise NormaliseError("the network has no conv layers")
    return layers


def filter_means(network: Network, blobs: Sequence[str],
                 inputs: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
    """{blob: per-channel mean over all inputs and positions}, Σ F / Σ N·H·W, in float64."""
    sums: dict[str, torch.Tensor | float] = dict.fromkeys(blobs, 0.0)
    counts = dict.fromkeys(blobs, 0)
    for x in inputs:
        for name, value in network.blobs(x, blobs).items():
            sums[name] = sums[name] + value.double().sum(dim=(0, 2, 3))
            counts[name] += value.numel() // value.shape[1]
    return {name: torch.as_tensor(sums[name] / counts[name]).cpu() for name in blobs}


def scale_filters(module: fx.GraphModule, layers: Sequence[ConvLayer],
                  means: dict[str, torch.Tensor]) -> None:
    """In place: W_l[o], b_l[o] /= k_l[o] and W_n[:, o] *= k_l[o] for each next layer n, with
    k_l the means of layer l (1 where a mean is 0)."""
    with torch.no_grad():
        for conv, _, nexts in layers:
            k = torch.where(means[conv] > 0, means[conv], torch.ones_like(means[conv]))
            layer = _conv(module, conv)
            layer.weight.copy_(layer.weight.double() / k.view(-1, 1, 1, 1))
            if layer.bias is not None:
                layer.bias.copy_(layer.bias.double() / k)
            for name in nexts:
                weight = _conv(module, name).weight
                weight.copy_(weight.double() * k.view(1, -1, 1, 1))


def dead_filters(means: dict[str, list[float]]) -> dict[str, list[int]]:
    """{conv layer: [channels whose mean is 0]} for the layers that have any."""
    dead = {conv: [c for c, m in enumerate(values) if m == 0] for conv, values in means.items()}
    return {conv: channels for conv, channels in dead.items() if channels}


def scaled_weights(model: onnx.ModelProto, module: fx.GraphModule) -> Weights:
    """[(initializer name, array)] of the ONNX model, with each conv layer's weight and bias
    taken from the torch module (onnx2torch names each module after its ONNX node)."""
    from_module: dict[str, torch.Tensor] = {}
    for node in model.graph.node:
        if node.op_type == "Conv":
            conv = _conv(module, node.name)
            from_module[node.input[1]] = conv.weight
            if len(node.input) > 2 and conv.bias is not None:
                from_module[node.input[2]] = conv.bias
    return [(t.name, from_module[t.name].detach().numpy() if t.name in from_module
             else numpy_helper.to_array(t)) for t in model.graph.initializer]


def normalise(model: PathLike, image_dir: PathLike, out: PathLike, size: int = 256,
              device: str = "cpu") -> tuple[dict[str, str], dict[str, list[float]]]:
    """Write the normalised network to `out` (NAME.onnx) and its record NAME.json.
    Returns ({"onnx": path, "json": path}, {conv layer: [means]})."""
    if size < 1:
        raise NormaliseError(f"size must be a positive number of pixels, not {size}")
    check_output_file(out, "out", (".onnx",))
    images = image_files(image_dir)
    check_apart({"out": out, "out's record": record_path(out)},
                {"model": model, "model's record": record_path(model),
                 **{f"image {p.name}": p for p in images}})
    read = read_network(model)
    if not images:
        raise NormaliseError(f"{image_dir}: no images ({', '.join(IMAGE_SUFFIXES)})")
    onnx_model, blob_names, record, sha256 = read.model, read.blob_names, read.record, read.sha256
    module = to_torch(onnx_model)
    layers = conv_layers(module, blob_names)
    network = Network(module, blob_names, read.input_name, record, sha256, device)
    network.check_image_input()
    with tqdm(images, desc="normalise", unit="image") as progress:  # closed on errors too
        inputs = (preprocess(load_image(path, size), device) for path in progress)
        by_blob = filter_means(network, [blob for _, blob, _ in layers], inputs)
    means = {conv: by_blob[blob] for conv, blob, _ in layers}
    module.cpu()
    scale_filters(module, layers, means)
    weights = scaled_weights(onnx_model, module)
    del onnx_model.graph.initializer[:]
    listed = {conv: values.tolist() for conv, values in means.items()}
    meta = dict(record, name=os.path.splitext(os.path.basename(out))[0], normalised=dict(
        source=dict(name=os.path.basename(model), sha256=sha256),
        images=[dict(name=os.path.basename(p), sha256=file_digest(p)) for p in images],
        size=size, means=listed))
    return write_network(out, onnx_model, weights, blob_names, read.input_name, meta), listed
