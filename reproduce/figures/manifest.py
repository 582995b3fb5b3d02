"""What a figure's manifest says: the caption, the preset, the network and inputs with their
sha256, the figure's files with theirs, and every panel's status, parameters and results."""
import dataclasses
import pathlib
from collections.abc import Sequence
from typing import Any

from reproduce.figures.plan import Panel, PanelStatus, Run
from reproduce.figures.tables import Figure
from reproduce.files import file_digest


def panel_entry(panel: Panel) -> dict[str, Any]:
    """A panel as the manifest lists it: status, file, every parameter and the run's results."""
    entry = dict(name=panel.job.name, letter=panel.letter, status=panel.status.value,
                 file=str(panel.image))
    if panel.status == PanelStatus.SKIPPED:
        return dict(entry, reason=panel.reason, changes=panel.job.changes)
    assert panel.record is not None  # a panel that is not skipped is done, with its record
    results = {k: v for k, v in panel.record.items()
               if k not in ("parameters", "history") and k not in entry}  # history: the record's
    return dict(entry, parameters=panel.parameters, **results)


def manifest(figure: Figure, panels: Sequence[Panel], run: Run, caption: str,
             files: dict[str, pathlib.Path], **extra: Any) -> dict[str, Any]:
    """The manifest of a figure written as `files` (its PNG and PDF); `extra` (a grid file's
    name and sha256) goes in as given."""
    return dict(
        figure=figure.name, paper=figure.paper, caption=caption,
        files={kind: dict(file=str(path), sha256=file_digest(path)) for kind, path in files.items()},
        preset=dataclasses.asdict(run.preset), model=str(run.model),
        model_sha256=run.model_sha256,
        inputs={key: None if run.inputs[key] is None else
                dict(file=str(run.inputs[key]), sha256=run.digests[key]) for key in figure.inputs},
        panels=[panel_entry(p) for p in panels], **extra)
