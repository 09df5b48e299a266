"""How the figures look: one colour per store family, so that a Rust backend and the
reference it replaces share a colour (solid line, filled marker against dashed, hollow);
axes in units; log scales only where the values span a decade or more."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, and no GUI toolkit to import

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import EngFormatter, FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from .dataset import Dataset  # noqa: E402
from .load import Size, fmt_size  # noqa: E402

#: A span (largest / smallest) from which an axis is drawn in log scale.
LOG_SPAN = 10.0
MARKERS = "osD^vP<>"
LINESTYLES = {"rust": "-", "reference": "--", "peer": "-.", "user": ":"}
#: What the x axis says for each payload's sizes.
SIZE_LABELS = {"entries": "dict size (entries)", "MiB": "weights (MiB of float32)"}
#: Inches: one panel, the legend column, one caption line.
PANEL = (6.0, 4.6)
LEGEND_WIDTH = 2.2
CAPTION_LINE = 0.19
#: Caption characters per inch of figure width, at its 8.5 pt font.
CAPTION_CHARS = 15
DPI = 120


def label(backend: str) -> str:
    """A user's ``package.module:Class`` is long; its class name says enough."""
    if ":" in backend:
        return f"{backend.rpartition(':')[2]} (user)"
    return backend


class Styles:
    """Line style of every backend in the dataset, the same in every figure."""

    def __init__(self, dataset: Dataset) -> None:
        palette = list(plt.get_cmap("tab10").colors)  # type: ignore[attr-defined]
        families: dict[str, list[str]] = {}
        self.implementation: dict[str, str] = {}
        for r in dataset.records:
            if r.backend in self.implementation:
                continue
            self.implementation[r.backend] = r.implementation
            family = r.reference if r.implementation == "rust" and r.reference else r.backend
            families.setdefault(family, []).append(r.backend)
        self.color: dict[str, Any] = {}
        self.marker: dict[str, str] = {}
        for i, members in enumerate(families.values()):
            for j, backend in enumerate(members):
                self.color[backend] = palette[i % len(palette)]
                self.marker[backend] = MARKERS[j % len(MARKERS)]

    def line(self, backend: str) -> dict[str, Any]:
        impl = self.implementation.get(backend, "user")
        color = self.color.get(backend, "black")
        return {
            "color": color,
            "linestyle": LINESTYLES.get(impl, ":"),
            "marker": self.marker.get(backend, "o"),
            "markerfacecolor": color if impl in ("rust", "peer") else "white",
            "markeredgecolor": color,
            "markersize": 6,
            "linewidth": 1.8,
            "label": label(backend),
        }


def spans_decades(values: list[float]) -> bool:
    positive = [v for v in values if v > 0]
    return bool(positive) and max(positive) / min(positive) >= LOG_SPAN


def seconds(value: float) -> str:
    """A time as the axes write it: 3 significant digits, SI prefix, "s"."""
    return EngFormatter(unit="s", places=None)(float(f"{value:.3g}"))


def _wrap(caption: list[str], width: float) -> list[str]:
    return [line for paragraph in caption
            for line in textwrap.wrap(paragraph, int(width * CAPTION_CHARS))]


def figure(panels: int, caption: list[str], height: float = PANEL[1],
           legend: bool = True, columns: int | None = None) -> tuple[Figure, list[Axes]]:
    """``panels`` axes in rows of ``columns`` (default: one row), with room below for the
    caption and, on the right, for the legend."""
    columns = columns or panels
    rows = -(-panels // columns)
    width = PANEL[0] * columns + (LEGEND_WIDTH if legend else 0)
    lines = len(_wrap(caption, width))
    fig = plt.figure(figsize=(width, height * rows + CAPTION_LINE * (lines + 1)), dpi=DPI)
    grid = list(fig.subplots(rows, columns, squeeze=False).flat)
    for ax in grid[panels:]:
        fig.delaxes(ax)
    return fig, grid[:panels]


def size_axis(ax: Axes, sizes: list[Size], unit: str = "entries") -> bool:
    """Payload sizes on x (``unit``: "entries" or "MiB"), each measured size a labelled
    tick; True if in log scale."""
    log = spans_decades([float(s) for s in sizes])
    if log:
        ax.set_xscale("log")
        ax.set_xlim(sizes[0] / 1.6, sizes[-1] * 1.6)
    else:
        pad = (sizes[-1] - sizes[0]) * 0.08 or sizes[0] * 0.2
        ax.set_xlim(sizes[0] - pad, sizes[-1] + pad)
    ax.set_xticks(sizes, [fmt_size(s, grouped=True) for s in sizes])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(SIZE_LABELS.get(unit, unit) + (", log scale" if log else ""))
    return log


def value_axis(ax: Axes, values: list[float], name: str, unit: str,
               axis: str = "y") -> bool:
    """A time or rate axis with its unit on every tick; True if in log scale."""
    log = spans_decades(values)
    target = ax.yaxis if axis == "y" else ax.xaxis
    if log:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
        decades = max(values) / min(v for v in values if v > 0)
        # Few decades: ticks at 1, 2 and 5 so that several are labelled.
        subs = (1.0,) if decades >= 1e3 else (1.0, 2.0, 5.0)
        target.set_major_locator(LogLocator(base=10, subs=subs))
        target.set_minor_formatter(NullFormatter())
    else:
        (ax.set_ylim if axis == "y" else ax.set_xlim)(0, max(values) * 1.12 if values else 1)
    target.set_major_formatter(EngFormatter(unit=unit))
    (ax.set_ylabel if axis == "y" else ax.set_xlabel)(
        name + (", log scale" if log else ""))
    return log


def ratio_axis(ax: Axes, ratios: list[float], name: str) -> None:
    """Ratios in log scale, so that 2x faster and 2x slower are the same distance from 1."""
    ax.set_yscale("log")
    low, high = min(ratios + [1.0]), max(ratios + [1.0])
    ax.set_ylim(low / 1.5, high * 1.5)
    if high / low < 100:
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.axhline(1.0, color="0.3", linewidth=1, zorder=1)
    ax.set_ylabel(name + ", log scale")


def dodge(sizes: list[Size], k: int, n: int, log: bool, span: float) -> list[float]:
    """x positions of series k of n, shifted a little so that whiskers do not overlap."""
    shift = (k - (n - 1) / 2) / max(n, 1)
    if log:
        return [s * 10 ** (0.12 * shift) for s in sizes]
    return [s + shift * 0.08 * span for s in sizes]


def finish(fig: Figure, axes: list[Axes], caption: list[str], path: Path,
           legend: bool = True) -> Path:
    """Shared legend on the right, caption below, saved as PNG."""
    width, height = fig.get_size_inches()
    for ax in axes:
        ax.grid(True, which="major", alpha=0.35)
    right = 1 - LEGEND_WIDTH / width if legend else 1.0
    lines = _wrap(caption, width)
    bottom = CAPTION_LINE * (len(lines) + 1) / height
    fig.text(0.01, 0.012, "\n".join(lines), fontsize=8.5, va="bottom", ha="left",
             color="0.2")
    fig.tight_layout(rect=(0, bottom, right, 1))
    if legend:
        handles: dict[str, Any] = {}
        for ax in axes:
            for h, text in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(text, h)
        if handles:
            # Right of the panels, wherever tight_layout put their edge.
            boxes = [ax.get_position() for ax in axes]
            middle = (min(b.y0 for b in boxes) + max(b.y1 for b in boxes)) / 2
            fig.legend(list(handles.values()), list(handles), loc="center left",
                       bbox_to_anchor=(max(b.x1 for b in boxes) + 0.1 / width, middle),
                       fontsize=9, frameon=False)
    fig.savefig(path)
    plt.close(fig)
    return path
