"""The network run in stages, so that a blob is handed out as soon as it is computed, and, when
asked, with activation checkpointing.

A stage ends after each blob asked for and after each pooling layer. Handing a blob out at once
lets the caller take its loss terms before the next layer runs; autograd's backward pass runs
nodes in reverse order of creation, so it then takes a term's gradient when it reaches the blob,
instead of taking every term's gradient first and holding them all the way down (half a
kilobyte a pixel for the paper's layers; docs/performance.md, "Memory").

With recomputation each stage is Recomputed: its activations are dropped after the forward pass
and computed again in the backward pass, so the backward pass keeps only what crosses between
stages (the blobs asked for and each block's pooled output) plus one stage's activations at a
time, for one more forward pass of the network per evaluation. It repeats the same operations
on the same inputs, so f and ∇f are those of the plain run (tests/network/test_memory.py
measures the difference).
"""
from collections.abc import Iterator
from typing import Any

from torch import fx, nn
from torch.fx.passes.split_module import split_module
from torch.utils.checkpoint import checkpoint

POOLING_LAYERS = (nn.AvgPool2d, nn.MaxPool2d)


class Recomputed(nn.Module):
    """A stage whose activations the backward pass recomputes instead of keeping
    (torch.utils.checkpoint, non-reentrant)."""

    def __init__(self, stage: nn.Module) -> None:
        super().__init__()
        self.stage = stage

    def forward(self, *inputs: Any) -> Any:
        # the network draws no random numbers: no generator state to save and restore
        return checkpoint(self.stage, *inputs, use_reentrant=False, preserve_rng_state=False)


def output_nodes(module: fx.GraphModule) -> list[fx.Node]:
    """The fx nodes a GraphModule returns, in order (the i-th holds blob_names[i])."""
    output = next(n for n in module.graph.nodes if n.op == "output").args[0]
    return list(output) if isinstance(output, (tuple, list)) else [output]


def is_pooling(module: fx.GraphModule, node: fx.Node) -> bool:
    return node.op == "call_module" and isinstance(module.get_submodule(str(node.target)),
                                                   POOLING_LAYERS)


def staged(module: fx.GraphModule, recompute: bool = False) -> fx.GraphModule:
    """`module` split into stages, each ending after a node it returns or a pooling layer (each
    stage Recomputed with `recompute`); the same outputs, the same layer objects (no weight is
    copied)."""
    returned, stage, stage_of = set(output_nodes(module)), 0, {}
    for node in module.graph.nodes:
        stage_of[node] = stage
        if node in returned or is_pooling(module, node):
            stage += 1
    split = split_module(module, module, lambda node: stage_of[node])
    if recompute:
        for name, child in list(split.named_children()):
            setattr(split, name, Recomputed(child))
    return split


def outputs_in_order(module: fx.GraphModule, *inputs: Any) -> Iterator[tuple[int, Any]]:
    """Run `module` node by node, yielding (i, value) for its i-th output as soon as the value is
    computed; every other value is let go after its last use."""
    returned = output_nodes(module)
    last_use = {used: node for node in module.graph.nodes for used in node.all_input_nodes}
    values: dict[fx.Node, Any] = {}
    arguments = iter(inputs)
    for node in module.graph.nodes:
        if node.op == "output":
            return
        if node.op == "placeholder":
            values[node] = next(arguments)
        else:
            run = module.get_submodule(str(node.target)) if node.op == "call_module" else node.target
            args, kwargs = fx.node.map_arg((node.args, node.kwargs), values.__getitem__)
            values[node] = run(*args, **kwargs)
        yield from ((i, values[node]) for i, out in enumerate(returned) if out is node)
        for used in node.all_input_nodes:
            if last_use[used] is node:
                del values[used]
