"""Inline SVG charts for the `eval --html` report (no script, no font, nothing fetched).

`reliability_svg` draws a reliability diagram: each equal-count bin's mean predicted
probability (x) against the share of its items that were right (y), before
calibration (the raw signal) and after (out-of-sample probabilities), with the
diagonal a perfectly calibrated confidence would follow. A point's area grows with
its bin's size, which is also written beside it; bins that fall on the same point
(equal probabilities straddle bins) are drawn as one, their sizes added.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

SIZE = 240
PAD = 16  # between the frame and the points at 0 and 1, so that no point or count sits on the frame
LEFT, TOP, RIGHT, BOTTOM = 52, 46, 18, 46
BEFORE, AFTER = "#d9822b", "#2f6fdb"


def _x(p: float) -> float:
    return LEFT + PAD + p * (SIZE - 2 * PAD)


def _y(p: float) -> float:
    return TOP + PAD + (1 - p) * (SIZE - 2 * PAD)


def merged(bins: Sequence[dict]) -> list[dict]:
    """The bins with those on the same point (to 3 decimals) made one, sizes added, in order."""
    points: dict[tuple[float, float], dict] = {}
    for b in bins:
        key = (round(b["predicted"], 3), round(b["observed"], 3))
        if key in points:
            points[key]["n"] += b["n"]
            points[key]["bins"] += 1
        else:
            points[key] = {**b, "bins": 1}
    return list(points.values())


def _frame() -> list[str]:
    parts = [f'<rect x="{LEFT}" y="{TOP}" width="{SIZE}" height="{SIZE}" fill="#fafbfc" stroke="#c9d1db"/>']
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{_x(t):.1f}" y1="{TOP}" x2="{_x(t):.1f}" y2="{TOP + SIZE}" stroke="#e6eaef"/>')
        parts.append(f'<line x1="{LEFT}" y1="{_y(t):.1f}" x2="{LEFT + SIZE}" y2="{_y(t):.1f}" stroke="#e6eaef"/>')
        parts.append(f'<text x="{_x(t):.1f}" y="{TOP + SIZE + 15}" text-anchor="middle">{t:g}</text>')
        parts.append(f'<text x="{LEFT - 6}" y="{_y(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    parts.append(f'<line class="diagonal" x1="{_x(0):.1f}" y1="{_y(0):.1f}" x2="{_x(1):.1f}" y2="{_y(1):.1f}" stroke="#8a94a3" '
                 'stroke-dasharray="5 4"/>')
    parts.append(f'<text x="{LEFT + SIZE / 2}" y="{TOP + SIZE + 34}" text-anchor="middle">predicted probability'
                 '</text>')
    middle = TOP + SIZE / 2
    parts.append(f'<text x="14" y="{middle}" text-anchor="middle" transform="rotate(-90 14 {middle})">'
                 'observed share right</text>')
    return parts


def _series(bins: Sequence[dict], colour: str, name: str, biggest: int, above: bool) -> list[str]:
    points = [(_x(b["predicted"]), _y(b["observed"]), b) for b in merged(bins)]
    parts = []
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5" opacity="0.7"/>')
    for x, y, b in points:
        r = 2.5 + 6.5 * math.sqrt(b["n"] / biggest)
        label_y = y - r - 3 if above else y + r + 10
        bins_note = f" in {b['bins']} bins" if b["bins"] > 1 else ""
        parts.append(f'<circle class="bin {name}" cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{colour}" '
                     f'fill-opacity="0.55" stroke="{colour}"><title>{name}: {b["n"]} items{bins_note}, predicted '
                     f'{b["predicted"]:.3f}, right {b["observed"]:.3f}</title></circle>')
        parts.append(f'<text class="n" x="{x:.1f}" y="{label_y:.1f}" text-anchor="middle" fill="{colour}">'
                     f'{b["n"]}</text>')
    return parts


def _legend(calibrated: bool) -> list[str]:
    after = "after: calibrated, out of sample" if calibrated else "after: not calibrated (too little gold)"
    return [f'<circle cx="{LEFT + 6}" cy="14" r="5" fill="{BEFORE}" fill-opacity="0.55" stroke="{BEFORE}"/>',
            f'<text x="{LEFT + 16}" y="18">before: raw signal</text>',
            f'<circle cx="{LEFT + 6}" cy="32" r="5" fill="{AFTER}" fill-opacity="{0.55 if calibrated else 0}" '
            f'stroke="{AFTER}"/>',
            f'<text x="{LEFT + 16}" y="36">{after}</text>']


def reliability_svg(name: str, before: Sequence[dict], after: Sequence[dict] | None) -> str:
    """A reliability diagram of one field (SVG markup, safe to put in a page as it is): bins of
    `metrics.reliability` before and after calibration."""
    width, height = LEFT + SIZE + RIGHT, TOP + SIZE + BOTTOM
    biggest = max([b["n"] for b in [*merged(before), *merged(after or [])]] or [1])
    parts = [*_frame(), *_legend(after is not None), *_series(before, BEFORE, "before", biggest, above=False)]
    if after:
        parts += _series(after, AFTER, "after", biggest, above=True)
    if not before:
        parts.append(f'<text x="{LEFT + SIZE / 2}" y="{TOP + SIZE / 2}" text-anchor="middle">no item to judge</text>')
    label = escape(f"Reliability of {name}: predicted probability against observed share right, before and after "
                   "calibration")
    return (f'<svg class="reliability" width="{width}" height="{height}" '
                  f'viewBox="0 0 {width} {height}" role="img" aria-label="{label}" font-size="11" '
                  f'font-family="system-ui, sans-serif" fill="#1d2430">{"".join(parts)}</svg>')


__all__ = ["merged", "reliability_svg"]
