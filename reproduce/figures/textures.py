"""The loss study's numbers (the `textures` figure, docs/loss-study.md): every texture measured
against its source at its own pooling, on the image as written (what the figure shows), by every
style loss (each L_style = Σ_l w_l E_l, as the run that optimised it computes it) and by the
texture measures (reproduce.method.texture_measures); the numbers set under each panel, and the
table beside the figure (CSV) and in its manifest (Markdown)."""
import csv
import dataclasses
import io
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from reproduce.figures.plan import Panel, PanelStatus, Run
from reproduce.files import atomic_path
from reproduce.image.convention import preprocess
from reproduce.image.files import load_image
from reproduce.method import MMD_C, STYLE_LOSSES
from reproduce.method.losses import feature_matrix
from reproduce.method.objective import Objective
from reproduce.method.texture_measures import TextureMeasures, texture_measures
from reproduce.network.load import Network, load_network
from reproduce.run.prepare import prepare


@dataclass
class Measured:
    """One texture: the pooling and loss it was made with, L_style under every style loss, the
    texture measures, and the iterations, evaluations and seconds its synthesis took."""
    name: str
    pooling: str
    loss: str
    losses: dict[str, float]
    measures: TextureMeasures
    iterations: int
    evaluations: int
    seconds: float

    def row(self) -> dict[str, Any]:
        """The table's row: the loss optimised, every loss evaluated (`gram` is the paper's
        L_style, as the measures' style_loss is, which it leaves out), the other measures, the
        cost."""
        measures = {k: v for k, v in dataclasses.asdict(self.measures).items() if k != "style_loss"}
        return dict(pooling=self.pooling, optimised=self.loss, **self.losses, **measures,
                    iterations=self.iterations, evaluations=self.evaluations,
                    seconds=round(self.seconds, 2))

    def note(self) -> str:
        """The numbers set under the panel."""
        m = self.measures
        return (f"L_style {m.style_loss:.3g}\nVGG {m.vgg_loss:.3g}\nSW {m.sliced_wasserstein:.3g}\n"
                f"μ {m.mean_error:.2f} σ {m.std_error:.2f}")


def features(net: Network, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """{layer: F^l} of a preprocessed image."""
    with torch.no_grad():
        blobs = net.blobs(x, list(layers))
    return {l: feature_matrix(blobs[l]) for l in layers}


def measure_panel(panel: Panel, net: Network) -> Measured:
    """A done panel's texture against its source (the painting as its run took it: cropped and
    sized by the same code), at the panel's pooling."""
    assert panel.config is not None and panel.record is not None  # a done panel has both
    config = panel.config
    prepared = prepare(config, net, outputs=False)
    source = preprocess(prepared.seen_styles[0], net.device)
    x = preprocess(load_image(panel.image), net.device)
    losses = {name: Objective(net, None, [source], dataclasses.replace(
        config, style_loss=name, mmd_c=config.mmd_c if name == "mmd-poly" else MMD_C)).values(x).style
        for name in STYLE_LOSSES}
    layers = config.style_layers
    measures = texture_measures(features(net, x, layers), features(net, source, layers),
                                tuple(layers))
    record = panel.record
    return Measured(panel.job.name, config.pooling, config.style_loss, losses, measures,
                    record["iterations"], record.get("evaluations", 0), record["seconds"])


def measure(panels: Sequence[Panel], run: Run) -> dict[str, Measured]:
    """{panel name: Measured} of every panel that has an image (one network per pooling)."""
    nets: dict[str, Network] = {}
    measured = {}
    for panel in panels:
        if panel.status == PanelStatus.SKIPPED or panel.config is None:
            continue
        config = panel.config
        if config.pooling not in nets:
            nets[config.pooling] = load_network(config.model, pooling=config.pooling,
                                                device=config.device, precision=config.precision)
        measured[panel.job.name] = measure_panel(panel, nets[config.pooling])
    return measured


def write_table(path: pathlib.Path, measured: Sequence[Measured]) -> None:
    """The table as CSV, written atomically."""
    rows = [m.row() for m in measured]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=list(rows[0]) if rows else ["pooling"])
            writer.writeheader()
            writer.writerows(rows)


def markdown(measured: Sequence[Measured]) -> str:
    """The table in Markdown: a row per texture, the loss optimised and every loss evaluated on
    it, the measures and the cost, numbers to 4 significant figures."""
    rows = [m.row() for m in measured]
    if not rows:
        return ""
    out = io.StringIO()
    out.write("| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]) + "\n")
    for row in rows:
        out.write("| " + " | ".join(v if isinstance(v, str) else f"{v:.4g}" for v in row.values())
                  + " |\n")
    return out.getvalue()
