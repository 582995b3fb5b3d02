"""The driver: plan the panels, render the pending ones through a backend, write each record as
its panel finishes and each figure (PNG, PDF, manifest) as soon as all its panels are done. One
make_figures or make_grid at a time writes into a results folder (an OS file lock). A grid
file's panels go through the same machinery as one figure (reproduce.figures.grid_figure)."""
import contextlib
import pathlib
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import filelock

from reproduce.errors import ReproduceError
from reproduce.figures import layout, papers, tables, textures
from reproduce.figures.convergence import draw_convergence
from reproduce.figures.execute import Backend, PanelFailure, PanelResult, Task, backend_for
from reproduce.figures.grid_figure import grid_figure, grid_model, grid_run
from reproduce.figures.manifest import manifest
from reproduce.figures.plan import (
    Panel,
    PanelStatus,
    Run,
    find_inputs,
    make_run,
    new_style_file,
    plan,
)
from reproduce.figures.tables import Cell, Figure, Job, Preset, caption
from reproduce.files import PathLike, check_apart, check_writable_folder, file_digest, write_json
from reproduce.image import Array
from reproduce.image.files import load_image
from reproduce.network import record_path
from reproduce.run.grid import Grid, load_grid

LOCK = ".make_figures.lock"


@contextlib.contextmanager
def results_lock(out: pathlib.Path) -> Iterator[None]:
    """Hold the results folder's lock for the block; refuse at once if another run holds it."""
    out.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(out / LOCK)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise ReproduceError(f"--out {out}: another make_figures.py is writing there; wait for "
                             f"it to finish or choose another --out") from None
    except OSError as e:  # the lock's path is a folder, say, or cannot be made
        raise ReproduceError(f"--out {out}: cannot take its lock {out / LOCK} "
                             f"({e.strerror or e})") from None
    try:
        yield
    finally:
        lock.release()


def figure_files(figure: Figure, run: Run) -> dict[str, pathlib.Path]:
    """The figure's files: PNG, PDF, its convergence plot (PNG, PDF), the table of a measured
    figure (CSV) and its manifest (last)."""
    folder = run.out / figure.paper
    return dict(png=folder / f"{figure.name}.png", pdf=folder / f"{figure.name}.pdf",
                losses_png=folder / f"{figure.name}_losses.png",
                losses_pdf=folder / f"{figure.name}_losses.pdf",
                **(dict(table=folder / f"{figure.name}_table.csv") if figure.measured else {}),
                manifest=folder / f"{figure.name}.json")


def discard(figure: Figure, panels: Sequence[Panel], run: Run) -> None:
    """Before a figure's panels change: remove its files and the records of the panels about to
    be rendered, so that nothing on disk vouches for what is being replaced."""
    for path in figure_files(figure, run).values():
        path.unlink(missing_ok=True)
    for panel in panels:
        if panel.status == PanelStatus.PENDING:
            panel.record_path.unlink(missing_ok=True)


def write_record(panel: Panel, result: PanelResult) -> None:
    """A finished panel's record: its parameters and the transfer's results."""
    panel.record = dict(parameters=panel.parameters, **result.as_record())
    panel.status = PanelStatus.COMPUTED if result.completed else PanelStatus.UNFINISHED
    write_json(panel.record_path, panel.record)


class PanelCrashed(RuntimeError):
    """A panel's transfer raised an unexpected error (a bug, not bad input); its traceback was
    written to stderr and into the panel's record."""


def record_failure(panel: Panel, failed: PanelFailure) -> Exception:
    """Record a failed panel (status failed, the error and any traceback, which also goes to
    stderr) and return the error that stops the run."""
    panel.status = PanelStatus.FAILED
    panel.record = dict(parameters=panel.parameters, status=PanelStatus.FAILED.value,
                        error=failed.error, traceback=failed.traceback)
    write_json(panel.record_path, panel.record)
    if failed.traceback is None:
        return ReproduceError(f"{panel.key}: {failed.error}")
    print(f"{panel.key} failed in its worker:\n{failed.traceback}", file=sys.stderr)
    return PanelCrashed(f"{panel.key}: {failed.error} (traceback above and in {panel.record_path})")


def tiles(figure: Figure, panels: Sequence[Panel], run: Run,
          notes: Mapping[str, str] | None = None) -> list[list[layout.Tile]]:
    """The figure's grid for the layout: panel images and input images, with insets, and the
    notes by panel name."""
    by_job = {id(p.job): p for p in panels}
    size = tables.panel_size(figure, run.preset)

    def picture(key: str | None) -> Array | None:
        path = None if key is None else run.inputs.get(key)
        return None if path is None else load_image(path, size)

    def place(cell: Cell) -> layout.Tile:
        if isinstance(cell.item, Job):
            panel = by_job[id(cell.item)]
            shown = new_style_file(panel.image) if cell.part == "style" else panel.image
            image = None if panel.status == PanelStatus.SKIPPED else load_image(shown)
        else:
            image = picture(cell.item)
        note = (notes or {}).get(cell.item.name, "") if isinstance(cell.item, Job) else ""
        return layout.Tile(image, cell.letter, picture(cell.inset), cell.title, cell.box,
                           cell.crop, note)

    return [[place(cell) for cell in row] for row in figure.rows]


def write_figure(figure: Figure, panels: Sequence[Panel], run: Run, text: str,
                 extra: dict[str, Any]) -> dict[str, Any]:
    """The figure as PNG and PDF, its convergence plot, a measured figure's table, then its
    manifest (last: it vouches for the others)."""
    files = figure_files(figure, run)
    notes = {}
    if figure.measured:  # the loss study: every texture measured against its source
        measured = textures.measure(panels, run)
        notes = {name: m.note() for name, m in measured.items()}
        textures.write_table(files["table"], list(measured.values()))
        extra = dict(extra, table=textures.markdown(list(measured.values())))
    drawn = layout.draw(tiles(figure, panels, run, notes), figure.row_labels, figure.col_labels,
                        text)
    layout.save(drawn, files["png"], files["pdf"])
    widest = max(sum(isinstance(cell.item, Job) for cell in row) for row in figure.rows)
    losses = draw_convergence([(p.job.name, None if p.status == PanelStatus.SKIPPED else p.record)
                               for p in panels],
                              f"{figure.name} ({figure.paper}): the losses at every iteration",
                              widest)
    layout.save(losses, files["losses_png"], files["losses_pdf"])
    written = manifest(figure, panels, run, text,
                       {k: v for k, v in files.items() if k != "manifest"}, **extra)
    write_json(files["manifest"], written)
    return written


def outputs_of(plans: Sequence[tuple[Figure, list[Panel]]], run: Run) -> dict[str, pathlib.Path]:
    """Every file a run writes: each panel's image and record, each figure's files."""
    outputs = {}
    for figure, panels in plans:
        outputs.update({f"{figure.name} {kind}": path
                        for kind, path in figure_files(figure, run).items()})
        for panel in panels:
            outputs[f"{panel.title} (image)"] = panel.image
            outputs[f"{panel.title} (record)"] = panel.record_path
    return outputs


def inputs_of(run: Run) -> dict[str, PathLike]:
    """Every file a run reads: the network and its record, and the input images."""
    inputs: dict[str, PathLike] = {"--model": run.model, "--model's record": record_path(run.model)}
    inputs.update({f"the input {key}": path for key, path in run.inputs.items() if path})
    return inputs


def default_backend(backend: Backend | None, device: str, jobs: int,
                    progress: bool | None) -> Backend:
    """The backend given, else in this process or a process pool for --jobs."""
    progress = sys.stderr.isatty() if progress is None else progress
    return backend or backend_for(device, jobs, progress)


def make_figures(names: Sequence[str], paper: str, preset: Preset, out: PathLike,
                 model: PathLike, device: str = "cpu", data_dirs: Sequence[PathLike] = (),
                 jobs: int = 1, force: bool = False, settings: Mapping[str, Any] | None = None,
                 log: Callable[[str], None] = print, backend: Backend | None = None,
                 progress: bool | None = None) -> list[dict]:
    """Render the named figures of one paper version; returns their manifests. Every input is
    checked before any panel runs; a figure is written only when all its panels are done. On
    Ctrl-C or SIGTERM the run stops, says what is done, and re-raises the interrupt. `backend`
    (default: in this process, or a process pool for --jobs; execute.ray_backend for a cluster)
    takes the list of Tasks and yields (task, result) as each finishes; closing it must stop
    its work."""
    check_writable_folder(out, "--out")
    figures = [papers.figure(name, paper, preset) for name in names]
    backend = default_backend(backend, device, jobs, progress)
    inputs = find_inputs(dict.fromkeys(k for f in figures for k in f.inputs), data_dirs)
    with results_lock(pathlib.Path(out)):
        run = make_run(out, paper, preset, model, inputs, device, settings, force)
        return run_figures([(f, caption(f, preset, inputs), {}) for f in figures], run, backend,
                           log)


def make_grid(grid: Grid | PathLike, preset: Preset, out: PathLike, model: PathLike,
              device: str = "cpu", jobs: int = 1, force: bool = False,
              settings: Mapping[str, Any] | None = None, log: Callable[[str], None] = print,
              backend: Backend | None = None, progress: bool | None = None) -> dict:
    """Render a grid file's panels (reproduce.run.grid) as make_figures renders a figure: records,
    reuse, lock, interrupts and backends alike; panels under OUT/grids/<file stem>/, the
    montage and its manifest beside them. The preset and the arguments give every field the
    grid does not set. Returns the manifest."""
    check_writable_folder(out, "--out")
    grid = grid if isinstance(grid, Grid) else load_grid(grid)
    figure = grid_figure(grid, preset)
    backend = default_backend(backend, device, jobs, progress)
    with results_lock(pathlib.Path(out)):
        run = grid_run(grid, out, preset, grid_model(grid, model), device, settings, force)
        extra = dict(grid=dict(file=str(grid.path), sha256=file_digest(grid.path)))
        [written] = run_figures([(figure, figure.caption, extra)], run, backend, log)
    return written


def run_figures(figures: Sequence[tuple[Figure, str, dict[str, Any]]], run: Run, backend: Backend,
                log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Plan the (figure, caption, manifest extras), render what is pending through the backend,
    write each record as it comes and each figure once all its panels are done; returns the
    manifests in order. On Ctrl-C or SIGTERM: say what is done and re-raise."""
    plans = [(f, plan(f, run)) for f, _, _ in figures]
    texts = {f.name: (text, extra) for f, text, extra in figures}
    check_apart(outputs_of(plans, run), inputs_of(run))
    for panel in (p for _, panels in plans for p in panels if p.status == PanelStatus.SKIPPED):
        for path in (panel.image, panel.record_path):  # an earlier render is not this figure's
            path.unlink(missing_ok=True)
    for panel in (p for _, panels in plans for p in panels if p.status != PanelStatus.PENDING):
        log(panel.reason or f"{panel.title}: reused (done before with the same parameters "
                            f"and network)")
    manifests = {}
    for figure, panels in plans:
        if any(p.status == PanelStatus.PENDING for p in panels):
            discard(figure, panels, run)
        else:
            manifests[figure.name] = write_figure(figure, panels, run, *texts[figure.name])
    pending = {p.key: (f, panels, p) for f, panels in plans for p in panels
               if p.status == PanelStatus.PENDING}
    done = 0
    try:
        tasks = [Task(key, panel.config) for key, (_, _, panel) in pending.items()
                 if panel.config is not None]  # plan gives every pending panel its config
        if tasks:
            log(f"rendering {len(tasks)} panels: {', '.join(pending)}")
        with contextlib.closing(backend(tasks)) as finished:
            for task, result in finished:
                figure, panels, panel = pending[task.key]
                if isinstance(result, PanelFailure):
                    raise record_failure(panel, result)
                write_record(panel, result)
                done += 1
                log(f"{panel.title}: {result.iterations} iterations in "
                    f"{result.seconds:.1f} s, L_total {result.losses['total']:.4g}"
                    + (f", try {result.attempts}" if result.attempts > 1 else "")
                    + ("" if result.completed else
                       f"; unfinished ({result.stop}), not counted as done"))
                if all(p.status != PanelStatus.PENDING for p in panels):
                    manifests[figure.name] = write_figure(figure, panels, run,
                                                          *texts[figure.name])
    except KeyboardInterrupt:
        written = ", ".join(manifests) or "none"
        print(f"stopped: {done} of {len(pending)} panels rendered and recorded this run; "
              f"figures written: {written}; run the same command again to render the rest "
              f"(finished panels are reused)", file=sys.stderr)
        raise
    return [manifests[f.name] for f, _, _ in figures]
