"""Grids of panels from a TOML file: a base configuration and the axes to vary.

    title = "Neckarfront in the style of Composition VII"   # optional
    [base]                        # TransferConfig fields; paths relative to this file
    content = "../inputs/tubingen.jpg"
    styles = ["../inputs/composition_vii.jpg"]
    [axes]                        # every combination, the first axis outermost
    ratio = [1e-4, 1e-3]
    seed = [0, 1]
    [axes.style_layers]           # an axis as a table: its values, and labels for the names
    values = [["conv1_1"], ["conv1_1", "conv2_1"]]
    labels = ["conv1_1", "conv2_1"]

expands to panels named by their values' labels joined by "_" (`1e-04_seed0_conv1_1`, ...), each
with the TransferConfig fields it sets. Fields it leaves out (size, iterations, ...) are the
caller's: a preset, the command line, or TransferConfig's defaults. data/grids/fig3.toml is the
paper's Fig. 3.
"""
import dataclasses
import functools
import itertools
import math
import pathlib
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from reproduce.errors import ReproduceError
from reproduce.files import PathLike
from reproduce.run.config import (
    INITS,
    RUN_FIELDS,
    TransferConfig,
    check_inputs,
    floats,
    ints,
    names,
)
from reproduce.run.regions import Region, parse_region

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

Kind = str | tuple[str, ...]  # a field's kind: its choices, or how a grid writes it
PATH_KINDS = dict(content="path", styles="paths", model="path", init="init", fine_style="path",
                  regions="regions")
PARSED_KINDS = {int: "integer", float: "number", floats: "numbers", names: "names",
                ints: "integers"}


def field_kind(f: dataclasses.Field[Any]) -> Kind:
    """What a TransferConfig field holds, as a grid writes it: read from the field's own
    definition (its choices or its parser), so that every new field is a grid field too."""
    if f.metadata["choices"]:
        return tuple(c for c in f.metadata["choices"] if c is not None)
    return PATH_KINDS.get(f.name) or PARSED_KINDS[f.metadata["parse"]]


KINDS = {f.name: field_kind(f) for f in dataclasses.fields(TransferConfig)
         if f.name not in RUN_FIELDS}
AXES = ("ratio", "style_layers", "content_layers", "styles", "content", "seed", "size",
        "pooling", "style_loss", "guide_mode", "guide_grow")
LABEL = re.compile(r"[A-Za-z0-9+-][A-Za-z0-9._+-]*")  # a plain file name: no folder, not hidden
MAX_PANELS = 5000  # a grid's panels unless the caller allows more (make_figures --max-panels)


class GridError(ReproduceError):
    """A grid file that cannot be read or names something it cannot have."""


class GridPanel(NamedTuple):
    name: str
    overrides: dict[str, Any]   # TransferConfig fields, paths absolute


@dataclasses.dataclass
class Grid:
    path: pathlib.Path
    title: str
    axes: dict[str, list[str]]  # axis: labels of its values, in order
    panels: list[GridPanel]     # in the axes' order (the last axis varies fastest)


class Where:
    """Where a value sits in the file, for error messages: `FILE:LINE: key`."""

    def __init__(self, path: pathlib.Path, text: str) -> None:
        self.path, self.lines = path, text.splitlines()

    def line(self, table: str, key: str) -> int | None:
        """The line of `key = ...` in `[table]` (or of the header `[table.key]`), else None."""
        current = ""
        for number, line in enumerate(self.lines, 1):
            header = re.fullmatch(r"\s*\[\s*([A-Za-z_][\w.\s-]*?)\s*\]\s*(#.*)?", line)
            if header:
                current = re.sub(r"\s", "", header.group(1))
                if current == f"{table}.{key}":
                    return number
            elif current == table and re.match(rf"\s*\"?{re.escape(key)}\"?\s*=", line):
                return number
        return None

    def error(self, table: str, key: str, message: str, index: int | None = None) -> GridError:
        line = self.line(table, key)
        where = f"{self.path}:{line}" if line else f"{self.path}"
        item = f"[{index}]" if index is not None else ""
        return GridError(f"{where}: {table}.{key}{item}: {message}")


def is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def convert(kind: Kind, raw: Any, folder: pathlib.Path, fail: Callable[[str], GridError]) -> Any:
    """A grid value as the TransferConfig field of `kind` takes it; `fail(message)` for errors."""
    if isinstance(kind, tuple):
        if raw not in kind:
            raise fail(f"must be one of {', '.join(kind)}, not {raw!r}")
        return raw
    if kind == "integer":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise fail(f"must be a whole number, not {raw!r}")
        return raw
    if kind == "number":
        if not is_number(raw):
            raise fail(f"must be a number, not {raw!r}")
        return float(raw)
    if kind == "numbers":
        if not isinstance(raw, list) or not raw or not all(map(is_number, raw)):
            raise fail(f"must be a list of numbers, not {raw!r}")
        return tuple(map(float, raw))
    if kind == "integers":
        if not isinstance(raw, list) or not raw or \
                not all(isinstance(v, int) and not isinstance(v, bool) for v in raw):
            raise fail(f"must be a list of whole numbers, not {raw!r}")
        return tuple(raw)
    if kind == "regions":  # NAME:CONTENT_MASK:STYLE_IMAGE[:STYLE_MASK], files relative
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise fail(f"must be a list of regions NAME:MASK:STYLE[:STYLE_MASK], not {raw!r}")
        try:
            regions = [parse_region(item) for item in items]
        except ReproduceError as e:
            raise fail(str(e)) from None
        def file(name: str) -> str:
            return str(convert("path", name, folder, fail))

        return tuple(Region(r.name, file(r.mask), file(r.style),
                            r.style_mask and file(r.style_mask)).spec() for r in regions)
    if kind == "init" and raw in INITS:
        return raw
    if kind in ("path", "init"):
        if not isinstance(raw, str) or not raw:
            raise fail(f"must be a file name, not {raw!r}")
        path = (folder / raw).resolve()
        if not path.is_file():
            raise fail(f"no such file {path}")
        return str(path)
    items = [raw] if isinstance(raw, str) else raw  # names, paths: a list, or one as a string
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise fail(f"must be a list of {'layer names' if kind == 'names' else 'file names'}, "
                   f"not {raw!r}")
    if kind == "names":
        return tuple(items)
    return tuple(convert("path", item, folder, fail) for item in items)


def default_label(axis: str, value: Any) -> str:
    """A short, file-name-safe name for an axis value: 1e-05, seed3, 256px, conv1_1+conv2_1."""
    if axis == "seed":
        text = f"seed{value}"
    elif axis == "size":
        text = f"{value}px"
    elif isinstance(value, float):  # as figures.py names them: 1e-05, 1.5e-03, 5e+02
        mantissa, exponent = f"{value:.14e}".split("e")
        text = f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"
    elif axis == "content":
        text = pathlib.Path(value).stem
    elif axis == "styles":
        text = "+".join(pathlib.Path(v).stem for v in value)
    elif isinstance(value, tuple):
        text = "+".join(value)
    else:
        text = str(value)
    return re.sub(r"[^A-Za-z0-9._+-]", "-", text)


def read_axis(axis: str, raw: Any, where: Where, folder: pathlib.Path) -> tuple[list[Any], list[str]]:
    """(values, labels) of one axis, written as a list or as a table {values, labels}."""
    labels = None
    if isinstance(raw, dict):
        unknown = sorted(set(raw) - {"values", "labels"})
        if unknown:
            raise where.error("axes", axis, f"unknown key {unknown[0]!r}; an axis table has "
                                             f"values and labels")
        labels, raw = raw.get("labels"), raw.get("values")
    if not isinstance(raw, list):
        raise where.error("axes", axis, f"must be a list of values, not {raw!r}")
    if not raw:
        raise where.error("axes", axis, "is empty; give at least one value")
    values = [convert(KINDS[axis], item, folder, functools.partial(where.error, "axes", axis, index=i))
              for i, item in enumerate(raw)]
    if labels is None:
        labels = [default_label(axis, v) for v in values]
    elif not isinstance(labels, list) or len(labels) != len(values):
        raise where.error("axes", axis, f"labels: one per value ({len(values)}), not {labels!r}")
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not LABEL.fullmatch(label):
            raise where.error("axes", axis, f"label {label!r}: use letters, digits and . _ + -, "
                              "not starting with a dot", i)
    twice = first_repeated(labels)
    if twice is not None:
        raise where.error("axes", axis, f"two values are labelled {twice!r}")
    return values, labels


def read_toml(path: PathLike) -> tuple[str, dict[str, Any]]:
    try:
        text = pathlib.Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise GridError(f"grid file {path}: cannot read ({getattr(e, 'strerror', None) or e})") \
            from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise GridError(f"{path}: not TOML: {e}") from None


def first_repeated(items: Iterable[str]) -> str | None:
    """The first item that comes a second time (in one pass), or None."""
    seen: set[str] = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    return None


def load_grid(path: PathLike, max_panels: int = MAX_PANELS) -> Grid:
    """Read, check and expand a grid file; every error is one line naming the file, line, key.
    A grid of more than `max_panels` panels is refused before it is expanded."""
    path = pathlib.Path(path)
    if not LABEL.fullmatch(path.stem):
        raise GridError(f"{path}: the grid's name {path.stem!r} names its folder of panels; "
                        "use letters, digits and . _ + -, not starting with a dot")
    text, document = read_toml(path)
    where, folder = Where(path, text), path.resolve().parent
    unknown = sorted(set(document) - {"title", "base", "axes"})
    if unknown:
        raise GridError(f"{path}: unknown key {unknown[0]!r}; a grid file has title, [base] "
                        f"and [axes]")
    title = document.get("title", path.stem)
    if not isinstance(title, str):
        raise GridError(f"{path}: title must be a string")
    base_raw, axes_raw = document.get("base", {}), document.get("axes", {})
    if not isinstance(base_raw, dict) or not isinstance(axes_raw, dict):
        raise GridError(f"{path}: base and axes must be tables ([base], [axes])")
    base = {}
    for key, raw in base_raw.items():
        if key not in KINDS:
            hint = "set by the command line" if key in RUN_FIELDS else \
                f"known fields: {', '.join(KINDS)}"
            raise where.error("base", key, f"not a field a grid sets ({hint})")
        base[key] = convert(KINDS[key], raw, folder, functools.partial(where.error, "base", key))
    if not axes_raw:
        raise GridError(f"{path}: no [axes]: name at least one of {', '.join(AXES)}")
    axes = {}
    for axis, raw in axes_raw.items():
        if axis not in AXES:
            raise where.error("axes", axis, f"not an axis; the axes are {', '.join(AXES)}")
        if axis in base:
            raise where.error("axes", axis, "is also set in [base]; set it in one place")
        axes[axis] = read_axis(axis, raw, where, folder)
    count = math.prod(len(values) for values, _ in axes.values())
    if count > max_panels:
        sizes = " × ".join(str(len(values)) for values, _ in axes.values())
        raise GridError(f"{path}: {sizes} = {count:,} panels, more than {max_panels:,}; split "
                        "the grid, or allow more with --max-panels")
    panels = []
    for combination in itertools.product(*(zip(*pair) for pair in axes.values())):
        name = "_".join(label for _, label in combination)
        overrides = dict(base, **{axis: v for axis, (v, _) in zip(axes, combination)})
        try:
            check_inputs(TransferConfig(**overrides))
        except ReproduceError as e:
            raise GridError(f"{path}: panel {name}: {e}") from None
        panels.append(GridPanel(name, overrides))
    twice = first_repeated(p.name for p in panels)
    if twice is not None:
        raise GridError(f"{path}: two panels are named {twice!r}; give the axes labels")
    return Grid(path, title, {axis: labels for axis, (_, labels) in axes.items()}, panels)
