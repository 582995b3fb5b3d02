"""The convergence plot beside every figure: L_total, α·L_content and β·L_style of each panel
against the iteration, on a log scale, from the per-iteration losses its record keeps. A user sees
at a glance whether the iterations were enough and where a run stalled (an early stop shows as a
line that ends, a stall as a flat one)."""
import math
from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from reproduce.figures.layout import DPI, FONT_PT, WIDTH_IN

COLUMNS = 6          # plots side by side, at most
ROW_IN = 1.45        # height of a row of plots, inches
SERIES = (("total", "L_total", "black"), ("content", "α·L_content", "tab:blue"),
          ("style", "β·L_style", "tab:orange"))


def series(record: dict[str, Any]) -> dict[str, tuple[list[float], list[float]]]:
    """{label: (iterations, values)} of a panel's record: the total, and the content and style
    terms weighted by the α and β it ran with; terms that are 0 throughout (left out) are not
    drawn."""
    history = record.get("history") or {}
    iterations = history.get("iteration", [])
    weights = dict(total=1.0, content=record.get("alpha", 0.0), style=record.get("beta", 0.0))
    drawn = {}
    for key, label, _ in SERIES:
        values = [weights[key] * v for v in history.get(key, [])]
        if values and all(math.isfinite(v) for v in values) and any(values):
            drawn[label] = (iterations, values)
    return drawn


def columns(panels: int, widest: int) -> int:
    """Plots side by side: as many as the figure's widest row has panels, 3 to COLUMNS."""
    return max(1, min(panels, max(3, min(COLUMNS, widest))))


def draw_convergence(panels: Sequence[tuple[str, dict[str, Any] | None]], title: str,
                     widest: int = COLUMNS) -> Figure:
    """One small plot per panel (name, record or None for a panel left out), log scale where
    every value is positive (an unbiased estimate, as mmd-gaussian's, can be negative: linear
    then), in rows as wide as the figure's widest (`widest` panels), titled."""
    ncols = columns(len(panels), widest)
    nrows = max(1, math.ceil(len(panels) / ncols))
    figure = Figure(figsize=(WIDTH_IN, 0.5 + nrows * ROW_IN), dpi=DPI, layout="constrained")
    figure.suptitle(title, fontsize=FONT_PT + 1)
    grid = figure.subplots(nrows, ncols, squeeze=False)
    for axes in grid.flat[len(panels):]:
        axes.set_axis_off()
    for axes, (name, record) in zip(grid.flat, panels):
        axes.set_title(name, fontsize=FONT_PT - (1 if ncols < COLUMNS else 2.5))
        axes.tick_params(labelsize=FONT_PT - 2)
        drawn = series(record) if record is not None else {}
        if not drawn:
            axes.text(0.5, 0.5, "left out" if record is None else "no losses recorded",
                      transform=axes.transAxes, ha="center", va="center", fontsize=FONT_PT - 1)
            axes.set_xticks([])
            axes.set_yticks([])
            continue
        for _, label, colour in SERIES:
            if label in drawn:
                axes.plot(*drawn[label], color=colour, linewidth=0.9, label=label)
        if all(v > 0 for _, values in drawn.values() for v in values):
            axes.set_yscale("log")
            axes.yaxis.set_minor_formatter(NullFormatter())  # in a decade they pile up unreadably
        axes.set_xlabel("iteration", fontsize=FONT_PT - 2)
    handles = {line.get_label(): line for axes in grid.flat for line in axes.get_lines()}
    if handles:
        shown = [label for _, label, _ in SERIES if label in handles]
        figure.legend(handles=[handles[label] for label in shown], labels=shown,
                      loc="outside lower center", ncols=len(shown), fontsize=FONT_PT - 1,
                      frameon=False)
    return figure
