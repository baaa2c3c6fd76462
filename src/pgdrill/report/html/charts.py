"""Charts as inline SVG: no script, no external file, readable printed in black and white.

Every mark carries its figure twice: as a ``<title>`` (the tooltip, and what a screen reader says) and
as ``data-value`` (the exact number, for tests and for anyone reading the page's source). The
tables next to each chart hold the same figures as text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pgdrill.report.format import iso
from pgdrill.report.html.markup import Html, el

W, H = 720.0, 200.0
LEFT, RIGHT, TOP, BOTTOM = 72.0, 16.0, 14.0, 30.0

Status = Literal["pass", "fail", "none"]


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float
    title: str  # e.g. "2026-11-20 03:17 UTC: 48.3 MiB"
    key: str  # the backup or drill id


@dataclass(frozen=True)
class Bar:
    label: str  # under the bar, e.g. "11-01"
    value: float
    target: float | None
    status: Status
    title: str
    key: str


def _n(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _exact(x: float) -> str:
    """The figure itself: an integer as such, else to the millisecond."""
    return str(int(x)) if float(x).is_integer() else f"{x:.3f}".rstrip("0")


def _ceiling(top: float) -> float:
    """A round upper bound for the y axis (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten), at least
    ``top``: quarters of it are round numbers too."""
    if top <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(top))) - 1) if top >= 1 else 1.0
    while magnitude > top:
        magnitude /= 10
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * magnitude >= top:
            return step * magnitude
    return 10 * magnitude


def _frame(chart_id: str, title: str, description: str, ceiling: float, fmt: Callable[[float], str],
           body: list[Html], x_labels: list[tuple[float, str, str]]) -> Html:
    plot_h = H - TOP - BOTTOM
    grid: list[Html] = []
    for i in range(5):
        value = ceiling * i / 4
        y = TOP + plot_h * (1 - i / 4)
        grid.append(el("line", x1=_n(LEFT), x2=_n(W - RIGHT), y1=_n(y), y2=_n(y), class_="grid"))
        grid.append(el("text", fmt(value), x=_n(LEFT - 6), y=_n(y + 4), class_="axis", text_anchor="end"))
    for x, label, anchor in x_labels:
        grid.append(el("text", label, x=_n(x), y=_n(H - 10), class_="axis", text_anchor=anchor))
    return el(
        "svg",
        el("title", title, id=f"{chart_id}-title"),
        el("desc", description, id=f"{chart_id}-desc"),
        el("g", *grid, class_="frame"),
        el("g", *body, class_="marks"),
        viewBox=f"0 0 {_n(W)} {_n(H)}", class_="chart", id=chart_id, role="img",
        aria_labelledby=f"{chart_id}-title {chart_id}-desc", xmlns="http://www.w3.org/2000/svg",
    )


def time_chart(points: Sequence[Point], *, chart_id: str, title: str, fmt: Callable[[float], str]) -> Html:
    """Values over time: a line through one dot per point, on a time axis."""
    if not points:
        return el("p", f"{title}: nothing recorded yet.", class_="empty")
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    first, last = points[0].at, points[-1].at
    span = (last - first).total_seconds()
    ceiling = _ceiling(max(p.value for p in points))

    def x(t: datetime) -> float:
        return LEFT + (plot_w * (t - first).total_seconds() / span if span > 0 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / ceiling)

    line = " ".join(f"{_n(x(p.at))},{_n(y(p.value))}" for p in points)
    marks: list[Html] = [el("polyline", points=line, class_="series")] if len(points) > 1 else []
    marks += [el("circle", el("title", p.title), cx=_n(x(p.at)), cy=_n(y(p.value)), r="3", class_="dot",
                 data_value=_exact(p.value), data_at=iso(p.at),
                 data_id=p.key) for p in points]
    labels = [(x(first), f"{first:%Y-%m-%d}", "start" if span > 0 else "middle")]
    if span > 0:
        labels.append((x(last), f"{last:%Y-%m-%d}", "end"))
    description = (f"{len(points)} point(s) from {first:%Y-%m-%d} to {last:%Y-%m-%d}; highest "
                   f"{fmt(max(p.value for p in points))}, latest {fmt(points[-1].value)}")
    return _frame(chart_id, title, description, ceiling, fmt, marks, labels)


def bar_chart(bars: Sequence[Bar], *, chart_id: str, title: str, fmt: Callable[[float], str]) -> Html:
    """One bar per drill, coloured by its verdict against its own target (a tick across the bar)."""
    if not bars:
        return el("p", f"{title}: no drill recorded yet.", class_="empty")
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    ceiling = _ceiling(max([b.value for b in bars] + [b.target for b in bars if b.target is not None]))
    slot = plot_w / len(bars)
    width = max(2.0, min(36.0, slot * 0.6))
    every = max(1, len(bars) // 12)
    marks: list[Html] = []
    labels: list[tuple[float, str, str]] = []
    for i, b in enumerate(bars):
        cx = LEFT + slot * (i + 0.5)
        height = plot_h * b.value / ceiling
        marks.append(el("rect", el("title", b.title), x=_n(cx - width / 2), y=_n(TOP + plot_h - height),
                        width=_n(width), height=_n(max(height, 0.5)), class_=f"bar {b.status}",
                        data_value=_exact(b.value), data_target=None if b.target is None else _exact(b.target),
                        data_status=b.status, data_id=b.key))
        if b.target is not None:
            ty = TOP + plot_h * (1 - b.target / ceiling)
            marks.append(el("line", x1=_n(cx - slot / 2 + 1), x2=_n(cx + slot / 2 - 1), y1=_n(ty), y2=_n(ty),
                            class_="target"))
        if i % every == 0:
            labels.append((cx, b.label, "middle"))
    met = sum(1 for b in bars if b.status == "pass")
    missed = sum(1 for b in bars if b.status == "fail")
    description = f"{len(bars)} drill(s): target met {met}, missed {missed}, no target {len(bars) - met - missed}"
    return _frame(chart_id, title, description, ceiling, fmt, marks, labels)
