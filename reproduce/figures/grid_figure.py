"""A grid file (reproduce.run.grid) as one figure of the driver: its panels as Jobs, laid out with
the last axis as columns and the others as rows, and the run they share, whose base config holds
the preset and the command line's fields for the grid to override."""
import itertools
import pathlib
from collections.abc import Mapping
from typing import Any

from reproduce.figures.plan import Run, new_run
from reproduce.figures.tables import Cell, Figure, Job, Preset
from reproduce.files import PathLike
from reproduce.image.files import load_image
from reproduce.run.grid import Grid
from reproduce.run.regions import parse_region

GRIDS = "grids"  # a grid's panels go under OUT/grids/<grid file's stem>/


def grid_job(name: str, overrides: dict[str, Any]) -> Job:
    """A grid panel as a Job. Images are named by path: a path is its own input key."""
    return Job(name, dict(overrides, content=overrides.get("content"),
                          styles=tuple(overrides.get("styles", ())),
                          regions=tuple(map(parse_region, overrides.get("regions", ())))))


def grid_figure(grid: Grid, preset: Preset) -> Figure:
    """The grid as a figure: columns the last axis, rows every combination of the others (the
    first two axes are rows × columns, as Fig. 3), each labelled; the caption says so."""
    *outer, (last, columns) = grid.axes.items()
    jobs = [grid_job(name, overrides) for name, overrides in grid.panels]
    width = len(columns)
    rows = tuple(tuple(Cell(job) for job in jobs[i:i + width]) for i in range(0, len(jobs), width))
    row_labels = tuple("\n".join(labels) for labels in
                       itertools.product(*(labels for _, labels in outer))) if outer else ()
    layout = (f"Rows: {', '.join(axis for axis, _ in outer)}; columns: {last}." if outer
              else f"Columns: {last}.")
    text = f"{grid.title.rstrip('.')}. {layout}\n{grid_setting(grid, preset)}"
    return Figure(grid.path.stem, GRIDS, text, rows, row_labels, tuple(columns))


def grid_setting(grid: Grid, preset: Preset) -> str:
    """The caption's setting line: the sizes and iterations the panels are rendered with."""
    def used(field: str) -> str:
        return ", ".join(str(v) for v in sorted({o.get(field, getattr(preset, field))
                                                 for _, o in grid.panels}))
    return f"Rendered at {used('size')} px with {used('iterations')} L-BFGS-B iterations."


def grid_model(grid: Grid, model: PathLike) -> pathlib.Path:
    """The network: the grid's own when its [base] names one, else `model` (--model)."""
    return pathlib.Path(grid.panels[0].overrides.get("model", model))


def grid_run(grid: Grid, out: PathLike, preset: Preset, model: PathLike, device: str = "cpu",
             settings: Mapping[str, Any] | None = None, force: bool = False) -> Run:
    """The run of a grid's panels: every input image read once (an unreadable one fails before
    any panel runs) and hashed; the base config holds the preset and the arguments."""
    inputs: dict[str, pathlib.Path | None] = {
        path: pathlib.Path(path) for name, overrides in grid.panels
        for path in grid_job(name, overrides).inputs}
    for path in inputs:
        load_image(path)
    return new_run(out, GRIDS, preset, model, inputs, device, settings, force)
