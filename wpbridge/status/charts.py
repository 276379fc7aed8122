"""Charts as inline SVG, drawn on the server: no script, no assets from other hosts.

Colours are presentation attributes (not style attributes), so the page's CSP needs no
'unsafe-inline'. Every chart carries a <title> and a table-like text alternative.

The SVG has no viewBox: heights are pixels and horizontal positions percentages of the
card's width, so the chart fills any card from a 480 px dashboard widget to a wide screen
while its text stays at :data:`FONT_PX` (a scaled viewBox shrank labels to 4-8 px).
"""

from __future__ import annotations

import math
from datetime import datetime

from markupsafe import Markup, escape

FONT_PX = 12
GUTTER = 10.0  # % of the width left of the plot, for the y-axis labels
PAD_B, PAD_T = 22, 16
COLOURS = {"delivered": "#2e7d32", "deferred": "#ef8f00", "bounced": "#c62828",
           "complained": "#6a1b9a", "warn": "#ef8f00", "critical": "#c62828", "line": "#1565c0"}


def nice_ticks(top: float, integer: bool = False, most: int = 5) -> list[float]:
    """0 and evenly spaced round values (1, 2 or 5 times a power of ten) reaching at least
    ``top``, at most ``most`` + 1 of them (pure). ``integer``: steps of at least 1, for counts,
    so that an axis of small counts reads 0, 1, 2 rather than 0, 0, 1."""
    top = max(top, 1.0 if integer else 1e-9)
    raw = top / most
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))
    if integer:
        step = max(1.0, round(step))
    n = math.ceil(top / step - 1e-9)
    return [round(i * step, 12) for i in range(n + 1)]


def _pct_label(v: float) -> str:
    return f"{v * 100:.3g}%"


def _frame(title: str, body: list[str], H: int) -> Markup:
    return Markup(
        f'<svg class="chart" width="100%" height="{H}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="{FONT_PX}">'
        f'<title>{escape(title)}</title>' + "".join(body) + "</svg>")


def _x(i: float, n: int) -> float:
    """The left edge (in % of the width) of slot ``i`` of ``n``."""
    return GUTTER + (100 - GUTTER) * i / max(n, 1)


def _axis(ticks: list[float], fmt, H: int) -> list[str]:
    out, top = [], ticks[-1] or 1
    for v in ticks:
        y = H - PAD_B - v / top * (H - PAD_B - PAD_T)
        out.append(f'<line x1="{GUTTER}%" x2="100%" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{GUTTER - 1}%" y="{y + 4:.1f}" text-anchor="end" fill="#50575e">'
                   f'{escape(fmt(v))}</text>')
    return out


def _labels(times: list[datetime], fmt: str, every: int, H: int) -> list[str]:
    n, out = len(times), []
    for i, t in enumerate(times):
        if i % every == 0:
            out.append(f'<text x="{_x(i + 0.5, n):.2f}%" y="{H - 6}" text-anchor="middle" '
                       f'fill="#50575e">{escape(t.strftime(fmt))}</text>')
    return out


def stacked_bars(title: str, times: list[datetime], stacks: dict[str, list[int]],
                 label_fmt: str = "%H:%M", every: int = 3, H: int = 200) -> Markup:
    """Bars per period, one colour per series, stacked bottom-up in the given order."""
    n = len(times)
    totals = [sum(s[i] for s in stacks.values()) for i in range(n)]
    ticks = nice_ticks(max(totals + [0]), integer=True)
    scale = (H - PAD_B - PAD_T) / ticks[-1]
    width = (100 - GUTTER) / max(n, 1)
    body = _axis(ticks, lambda v: f"{v:.0f}", H)
    for i in range(n):
        y = H - PAD_B
        for name, values in stacks.items():
            h = values[i] * scale
            if h > 0:
                y -= h
                body.append(f'<rect x="{_x(i, n) + width * 0.08:.2f}%" y="{y:.1f}" '
                            f'width="{width * 0.84:.2f}%" height="{h:.1f}" '
                            f'fill="{COLOURS.get(name, "#888")}">'
                            f'<title>{escape(times[i].strftime(label_fmt))}: {values[i]} {escape(name)}</title></rect>')
    body += _labels(times, label_fmt, every, H)
    return _frame(title, body, H)


def rate_line(title: str, times: list[datetime], rates: list[float | None], warn: float,
              critical: float, label_fmt: str = "%H:%M", every: int = 3, H: int = 180) -> Markup:
    """A rate per period (None: too little mail to tell) with the warning and critical
    thresholds drawn as dashed lines."""
    known = [r for r in rates if r is not None]
    ticks = nice_ticks(max(known + [critical * 1.25]), most=4)
    scale = (H - PAD_B - PAD_T) / ticks[-1]
    n = len(times)

    def y_of(v: float) -> float:
        return H - PAD_B - v * scale

    body = _axis(ticks, _pct_label, H)
    for name, level in (("warn", warn), ("critical", critical)):
        y = y_of(level)
        body.append(f'<line x1="{GUTTER}%" x2="100%" y1="{y:.1f}" y2="{y:.1f}" stroke="{COLOURS[name]}" '
                    f'stroke-dasharray="6 4" stroke-width="1.5"/>')
        body.append(f'<text x="99.5%" y="{y - 3:.1f}" text-anchor="end" fill="{COLOURS[name]}">'
                    f'{"warning" if name == "warn" else "critical"} {_pct_label(level)}</text>')
    points = [(_x(i + 0.5, n), y_of(r), r, times[i]) for i, r in enumerate(rates) if r is not None]
    for (x1, y1, *_), (x2, y2, *_) in zip(points, points[1:]):
        body.append(f'<line x1="{x1:.2f}%" y1="{y1:.1f}" x2="{x2:.2f}%" y2="{y2:.1f}" '
                    f'stroke="{COLOURS["line"]}" stroke-width="2"/>')
    for x, y, r, t in points:
        body.append(f'<circle cx="{x:.2f}%" cy="{y:.1f}" r="3" fill="{COLOURS["line"]}">'
                    f'<title>{escape(t.strftime(label_fmt))}: {r * 100:.2f}%</title></circle>')
    body += _labels(times, label_fmt, every, H)
    return _frame(title, body, H)
