"""Matplotlib figures on the Agg canvas, without pyplot: shared by report charts and claim studies.

Figures are built on `FigureCanvasAgg` directly, so rendering is headless, needs no
`matplotlib.use`, and leaves no global figure state behind whatever backend the process has
selected; a figure is freed with the last reference to it.
"""
from __future__ import annotations

import io
import textwrap

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 150
DIMMED_TEXT = "#5a5a5a"


def new_figure(figsize: tuple[float, float], dpi: float = DPI) -> tuple[Figure, Axes]:
    """A figure of `figsize` inches with one axes, attached to its own Agg canvas."""
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def new_panels(rows: int, figsize: tuple[float, float], dpi: float = DPI) -> tuple[Figure, list[Axes]]:
    """A figure of `rows` stacked axes (one column), attached to its own Agg canvas."""
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(rows, 1, i + 1) for i in range(rows)]


def png_bytes(fig: Figure) -> bytes:
    """The figure rendered as PNG at its own dpi."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    return buf.getvalue()


def add_footer(fig: Figure, text: str, width_chars: int, fontsize: float = 6.5) -> None:
    """Small dimmed text wrapped at `width_chars` in the bottom-left corner (provenance, notes).

    The caller leaves room for it (e.g. `tight_layout(rect=(0, 0.06, 1, 1))`).
    """
    fig.text(0.01, 0.01, textwrap.fill(text, width=width_chars), fontsize=fontsize, color=DIMMED_TEXT,
             va="bottom", ha="left")
