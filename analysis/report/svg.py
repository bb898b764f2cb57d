"""Tiny, dependency-free SVG charts for the self-contained HTML report.

Each function takes plain numbers and returns an ``<svg>`` string; nothing is fetched at view
time, so a report opens offline and can be attached to a pull request.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

__all__ = ["bar_chart", "histogram", "series_chart"]

W, H = 560, 220
PAD_L, PAD_R, PAD_T, PAD_B = 56, 12, 24, 40
PALETTE = ("#4878d0", "#ee854a", "#6acc64", "#d65f5f", "#956cb4", "#8c613c", "#dc7ec0")


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v / 1000:.1f}k"
    if abs(v) >= 10:
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:.1f}"
    return f"{v:.2g}"


def _frame(title: str, body: list[str], x_label: str, y_label: str) -> str:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" '
        f'height="{H}" font-family="sans-serif" font-size="11">'
        f'<text x="{PAD_L}" y="14" font-weight="bold">{escape(title)}</text>'
        f'<text x="{(W + PAD_L) / 2}" y="{H - 6}" text-anchor="middle">{escape(x_label)}</text>'
        f'<text x="12" y="{(H - PAD_B + PAD_T) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {(H - PAD_B + PAD_T) / 2})">{escape(y_label)}</text>'
        f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" stroke="#333"/>'
        f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" stroke="#333"/>'
    )
    return head + "".join(body) + "</svg>"


def _y_ticks(ymax: float) -> list[str]:
    out = []
    for i in range(5):
        v = ymax * i / 4
        y = H - PAD_B - (H - PAD_B - PAD_T) * i / 4
        out.append(
            f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(v)}</text>'
            f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" stroke="#eee"/>'
        )
    return out


def histogram(
    title: str, buckets: Sequence[tuple[float, float, float]], x_label: str = "ms"
) -> str:
    """Bars for log-spaced ``(lo, hi, count)`` buckets, on a log x axis.

    >>> histogram("latency", [(1, 2, 3), (2, 4, 5)]).startswith("<svg")
    True
    """
    buckets = [b for b in buckets if b[2] > 0 and b[0] > 0 and b[1] > b[0]]
    if not buckets:
        return _frame(title, ['<text x="200" y="100">no data</text>'], x_label, "count")
    lo = math.log10(min(b[0] for b in buckets))
    hi = math.log10(max(b[1] for b in buckets))
    span = max(hi - lo, 1e-9)
    ymax = max(b[2] for b in buckets)
    pw, ph = W - PAD_L - PAD_R, H - PAD_B - PAD_T
    body = _y_ticks(ymax)
    for b_lo, b_hi, n in buckets:
        x0 = PAD_L + pw * (math.log10(b_lo) - lo) / span
        x1 = PAD_L + pw * (math.log10(b_hi) - lo) / span
        h = ph * n / ymax
        body.append(
            f'<rect x="{x0:.1f}" y="{H - PAD_B - h:.1f}" width="{max(x1 - x0 - 1, 1):.1f}" '
            f'height="{h:.1f}" fill="{PALETTE[0]}"><title>{_fmt(b_lo)}-{_fmt(b_hi)} '
            f"{escape(x_label)}: {int(n)}</title></rect>"
        )
    for decade in range(math.floor(lo), math.ceil(hi) + 1):
        if lo <= decade <= hi:
            x = PAD_L + pw * (decade - lo) / span
            body.append(
                f'<text x="{x:.1f}" y="{H - PAD_B + 14}" text-anchor="middle">'
                f"{_fmt(10.0**decade)}</text>"
            )
    return _frame(title, body, x_label + " (log scale)", "count")


def series_chart(
    title: str,
    series: dict[str, Sequence[tuple[float, float]]],
    *,
    hlines: dict[str, float] | None = None,
    x_label: str = "seconds",
    y_label: str = "requests/s",
) -> str:
    """Lines for named ``(x, y)`` series plus labelled horizontal reference lines.

    >>> "limit" in series_chart("rate", {"a": [(0, 1), (1, 2)]}, hlines={"limit": 1.5})
    True
    """
    points = [p for s in series.values() for p in s]
    hl = hlines or {}
    if not points:
        return _frame(title, ['<text x="200" y="100">no data</text>'], x_label, y_label)
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    ymax = max([p[1] for p in points] + list(hl.values()) + [1e-9]) * 1.1
    pw, ph = W - PAD_L - PAD_R, H - PAD_B - PAD_T
    xspan = max(x1 - x0, 1e-9)

    def xy(x: float, y: float) -> str:
        return f"{PAD_L + pw * (x - x0) / xspan:.1f},{H - PAD_B - ph * y / ymax:.1f}"

    body = _y_ticks(ymax)
    for i, (name, pts) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(xy(x, y) for x, y in sorted(pts))
        body.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{path}">'
            f"<title>{escape(name)}</title></polyline>"
            f'<text x="{W - PAD_R - 4}" y="{PAD_T + 12 * (i + 1)}" text-anchor="end" '
            f'fill="{color}">{escape(name)}</text>'
        )
    for j, (name, value) in enumerate(hl.items()):
        y = H - PAD_B - ph * value / ymax
        body.append(
            f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" stroke="#d62728" '
            f'stroke-dasharray="5,3"/><text x="{PAD_L + 4 + 120 * j}" y="{y - 3:.1f}" '
            f'fill="#d62728">{escape(name)} {_fmt(value)}</text>'
        )
    body.append(f'<text x="{PAD_L}" y="{H - PAD_B + 14}">{_fmt(x0)}</text>')
    body.append(f'<text x="{W - PAD_R}" y="{H - PAD_B + 14}" text-anchor="end">{_fmt(x1)}</text>')
    return _frame(title, body, x_label, y_label)


def bar_chart(title: str, bars: Sequence[tuple[str, float]], x_label: str = "ms") -> str:
    """Horizontal bars, largest first, labelled on the left.

    >>> bar_chart("top", [("select 1", 3.0)]).count("<rect")
    1
    """
    bars = sorted(bars, key=lambda b: -b[1])[:12]
    if not bars:
        return _frame(title, ['<text x="200" y="100">no data</text>'], x_label, "")
    height = PAD_T + 18 * len(bars) + 24
    vmax = max(b[1] for b in bars) or 1.0
    left = 220
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="{W}" '
        f'height="{height}" font-family="sans-serif" font-size="11">'
        f'<text x="4" y="14" font-weight="bold">{escape(title)}</text>'
    ]
    for i, (label, value) in enumerate(bars):
        y = PAD_T + 18 * i
        w = (W - left - 60) * value / vmax
        short = label if len(label) <= 36 else label[:35] + "…"
        out.append(
            f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{escape(short)}'
            f"<title>{escape(label)}</title></text>"
            f'<rect x="{left}" y="{y + 2}" width="{max(w, 1):.1f}" height="14" '
            f'fill="{PALETTE[1]}"/><text x="{left + w + 4:.1f}" y="{y + 13}">'
            f"{_fmt(value)} {escape(x_label)}</text>"
        )
    out.append("</svg>")
    return "".join(out)
