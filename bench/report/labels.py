"""Greedy, collision-avoiding placement of point labels on a matplotlib axes.

For each label, in priority order, candidate positions are tried on rings of growing radius
around its point (24 directions per ring). A candidate is scored by how much its text box
overlaps labels already placed (heavily), markers, lines and leaders (lightly), whether it
leaves the axes or its leader crosses another label (heavily), plus its distance from the
point; the lowest score wins. A required label always gets its best spot; an optional one only
a spot that overlaps no text, stays inside the axes and covers little of markers and lines,
else it is left out (and the caller says so on the chart). Optional labels of points drawn on
top of each other are merged into one stacked label first. Labels placed away from their point
get a thin leader line. Positions are computed in display pixels, so the caller must fix the
figure size, axes limits and layout before calling `place_labels`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.text import Annotation, Text

RADII_PT = (6, 10, 15, 21, 28, 36, 46, 58, 72, 90)  # ring radii in points
DIRECTIONS = 24
LEADER_MIN_PT = 10  # labels further than this from their point get a leader line
MARKER_HALF_PT = 4.0  # half-size of the square kept clear around every marker
PAD_PX = 2.5
COINCIDENT_PT = 3.0  # optional labels of points closer than this are merged into one
DISTANCE_WEIGHT = 1.5  # px^2 of overlap one pixel of label distance is worth
OPTIONAL_OBSTACLE_FRACTION = 0.15  # an optional label may cover markers/lines by at most this share of its area
LINE_HALF_PX = 2.0  # half-thickness of the strip kept clear along lines (fronts, error bars)


@dataclass(frozen=True)
class LabelSpec:
    """A label to place next to the data point (x, y)."""

    x: float
    y: float
    text: str
    color: str = "black"
    bold: bool = False
    fontsize: float = 7.0
    required: bool = True  # an optional label is left out when it cannot be placed cleanly


Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in display pixels


def _overlap(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _outside(box: Box, frame: Box) -> float:
    """Area of `box` that lies outside `frame`."""
    area = (box[2] - box[0]) * (box[3] - box[1])
    return area - _overlap(box, frame)


def _alignment(dx: float, dy: float) -> tuple[str, str]:
    ha = "left" if dx > 0.38 else "right" if dx < -0.38 else "center"
    va = "bottom" if dy > 0.38 else "top" if dy < -0.38 else "center"
    return ha, va


def _box_at(anchor: tuple[float, float], size: tuple[float, float], ha: str, va: str) -> Box:
    (ax_, ay), (w, h) = anchor, size
    x0 = ax_ if ha == "left" else ax_ - w if ha == "right" else ax_ - w / 2
    y0 = ay if va == "bottom" else ay - h if va == "top" else ay - h / 2
    return (x0 - PAD_PX, y0 - PAD_PX, x0 + w + PAD_PX, y0 + h + PAD_PX)


def _text_size(ax: Axes, spec: LabelSpec, renderer) -> tuple[float, float]:
    probe = ax.text(0, 0, spec.text, fontsize=spec.fontsize, fontweight="bold" if spec.bold else "normal")
    extent = probe.get_window_extent(renderer=renderer)
    probe.remove()
    return extent.width, extent.height


def line_obstacles(ax: Axes, xs: list[float], ys: list[float], step_px: float = 4.0) -> list[Box]:
    """Small boxes along the polyline through data points (xs, ys), for labels to keep clear of.

    Call after the layout is final (the boxes are in display pixels).
    """
    pts = [tuple(ax.transData.transform((x, y))) for x, y in zip(xs, ys)]
    boxes: list[Box] = []
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        n = max(1, int(math.hypot(x1 - x0, y1 - y0) / step_px))
        for i in range(n + 1):
            x, y = x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n
            boxes.append((x - LINE_HALF_PX, y - LINE_HALF_PX, x + LINE_HALF_PX, y + LINE_HALF_PX))
    return boxes


def _overlap_area(box: Box, boxes: np.ndarray) -> float:
    """Total area of `box` covered by each of `boxes` (an (N, 4) array), summed."""
    if boxes.size == 0:
        return 0.0
    w = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    h = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    return float(np.sum(np.clip(w, 0, None) * np.clip(h, 0, None)))


def _leader_samples(point: tuple[float, float], box: Box, step_px: float = 3.0) -> np.ndarray:
    """Points along the leader line (label centre -> data point) that lie outside the label box."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    n = max(2, int(math.hypot(cx - point[0], cy - point[1]) / step_px))
    t = np.linspace(0.0, 1.0, n)
    xs, ys = point[0] + (cx - point[0]) * t, point[1] + (cy - point[1]) * t
    outside = (xs < box[0]) | (xs > box[2]) | (ys < box[1]) | (ys > box[3])
    return np.column_stack([xs[outside], ys[outside]])


def _points_inside(samples: np.ndarray, boxes: np.ndarray) -> int:
    if samples.size == 0 or boxes.size == 0:
        return 0
    x, y = samples[:, :1], samples[:, 1:]
    inside = (x >= boxes[:, 0]) & (x <= boxes[:, 2]) & (y >= boxes[:, 1]) & (y <= boxes[:, 3])
    return int(inside.any(axis=1).sum())


def _as_array(boxes: list[Box]) -> np.ndarray:
    return np.asarray(boxes, dtype=float).reshape(-1, 4)


def merge_coincident(specs: list[LabelSpec], points: list[tuple[float, float]], within_px: float) \
        -> tuple[list[LabelSpec], list[tuple[float, float]]]:
    """Optional labels of points drawn on top of each other become one stacked label.

    Two separate labels for one visible dot cannot say which is which, and they compete for the
    same free spots; "a\nb" next to the dot is both clearer and easier to place.
    """
    merged: list[LabelSpec] = []
    merged_points: list[tuple[float, float]] = []
    for spec, point in zip(specs, points):
        for j, (other, at) in enumerate(zip(merged, merged_points)):
            if not spec.required and not other.required and math.dist(point, at) <= within_px:
                merged[j] = LabelSpec(other.x, other.y, f"{other.text}\n{spec.text}", other.color, other.bold,
                                      other.fontsize, required=False)
                break
        else:
            merged.append(spec)
            merged_points.append(point)
    return merged, merged_points


@dataclass
class Placement:
    """The labels drawn and how many points' optional labels were left out for lack of room."""

    annotations: list[Annotation]
    omitted: int = 0


def place_labels(ax: Axes, specs: list[LabelSpec], lines: list[tuple[list[float], list[float]]] = ()) -> Placement:
    """Annotate every spec without overlapping text where possible.

    Required labels are placed first, then optional ones, each group in the order given (put the
    most important first). `lines` are
    polylines in data coordinates (front steps, error bars) that labels should not cover.
    Leader lines are kept from crossing labels already placed, and later labels avoid them.
    A required label is always drawn (at its least-bad spot); an optional one only where it
    overlaps no text, stays inside the axes and covers little of the markers and lines.
    """
    fig = ax.figure
    fig.draw_without_rendering()  # fixes the layout so the data -> pixel transform is final
    renderer = fig.canvas.get_renderer()
    px_per_pt = fig.dpi / 72.0
    frame_bb = ax.get_window_extent(renderer=renderer)
    frame: Box = (frame_bb.x0, frame_bb.y0, frame_bb.x1, frame_bb.y1)
    points = [tuple(ax.transData.transform((s.x, s.y))) for s in specs]
    half = MARKER_HALF_PT * px_per_pt
    obstacles: list[Box] = [(px - half, py - half, px + half, py + half) for px, py in points]
    for xs, ys in lines:
        obstacles.extend(line_obstacles(ax, list(xs), list(ys)))
    order = sorted(range(len(specs)), key=lambda i: not specs[i].required)  # stable: required ones first
    specs, points = merge_coincident([specs[i] for i in order], [points[i] for i in order],
                                     COINCIDENT_PT * px_per_pt)
    placed: list[Box] = []
    leaders: list[Box] = []  # strips along leader lines drawn so far: avoided, but text may touch them
    result = Placement([])
    for spec, point in zip(specs, points):
        size = _text_size(ax, spec, renderer)
        placed_arr, obstacle_arr, leader_arr = _as_array(placed), _as_array(obstacles), _as_array(leaders)
        best, best_ok = None, None  # best overall / best acceptable for an optional label
        for radius_pt in RADII_PT:
            radius = radius_pt * px_per_pt
            for k in range(DIRECTIONS):
                angle = 2 * math.pi * k / DIRECTIONS
                dx, dy = math.cos(angle), math.sin(angle)
                ha, va = _alignment(dx, dy)
                box = _box_at((point[0] + radius * dx, point[1] + radius * dy), size, ha, va)
                hard = _overlap_area(box, placed_arr) * 10 + _outside(box, frame) * 50
                if radius_pt >= LEADER_MIN_PT:  # a leader through another label reads as pointing at it
                    hard += _points_inside(_leader_samples(point, box), placed_arr) * 40.0
                soft = _overlap_area(box, obstacle_arr)
                # covering a thin leader is a small fault; distance is the tie-breaker between clear spots
                score = hard + soft + _overlap_area(box, leader_arr) * 0.5 + radius * DISTANCE_WEIGHT
                candidate = (score, box, radius * dx, radius * dy, ha, va, radius_pt)
                if best is None or score < best[0]:
                    best = candidate
                area = (box[2] - box[0]) * (box[3] - box[1])
                if hard == 0 and soft <= OPTIONAL_OBSTACLE_FRACTION * area and (best_ok is None or score < best_ok[0]):
                    best_ok = candidate
        if not spec.required:
            if best_ok is None:
                result.omitted += spec.text.count("\n") + 1  # a merged label stands for several points
                continue
            best = best_ok
        _, box, ox, oy, ha, va, radius_pt = best
        placed.append(box)
        arrow = None
        if radius_pt >= LEADER_MIN_PT:
            arrow = dict(arrowstyle="-", color=spec.color, lw=0.5, alpha=0.7, shrinkA=0, shrinkB=2)
            samples = _leader_samples(point, box)
            leaders.extend((x - LINE_HALF_PX, y - LINE_HALF_PX, x + LINE_HALF_PX, y + LINE_HALF_PX)
                           for x, y in samples[::2])
        result.annotations.append(ax.annotate(
            spec.text, xy=(spec.x, spec.y), xytext=(ox / px_per_pt, oy / px_per_pt), textcoords="offset points",
            ha=ha, va=va, fontsize=spec.fontsize, color=spec.color, fontweight="bold" if spec.bold else "normal",
            arrowprops=arrow, annotation_clip=False, zorder=5))
    return result


def label_boxes(annotations: list[Annotation]) -> list[Box]:
    """The drawn text boxes of `annotations` in display pixels (used by tests to check overlaps)."""
    if not annotations:
        return []
    fig = annotations[0].figure
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    out = []
    for a in annotations:
        bb = Text.get_window_extent(a, renderer=renderer)  # the text alone; Annotation's adds the leader line
        out.append((bb.x0, bb.y0, bb.x1, bb.y1))
    return out


def count_overlaps(boxes: list[Box]) -> int:
    """Number of pairs of boxes that overlap by more than a pixel squared."""
    return sum(1 for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if _overlap(boxes[i], boxes[j]) > 1.0)
