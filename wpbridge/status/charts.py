"""Charts as inline SVG, drawn on the server: no script, no assets from other hosts.

Colours are presentation attributes (not style attributes), so the page's CSP needs no
'unsafe-inline'. Every chart carries a <title> and a table-like text alternative.
"""

from __future__ import annotations

from datetime import datetime

from markupsafe import Markup, escape

PAD_L, PAD_B, PAD_T = 44, 22, 10
COLOURS = {"delivered": "#2e7d32", "deferred": "#ef8f00", "bounced": "#c62828",
           "complained": "#6a1b9a", "warn": "#ef8f00", "critical": "#c62828", "line": "#1565c0"}


def _frame(title: str, body: list[str], W: int, H: int) -> Markup:
    return Markup(
        f'<svg viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">'
        f'<title>{escape(title)}</title>' + "".join(body) + "</svg>")


def _axis(ymax: float, fmt, W: int, H: int) -> list[str]:
    out = []
    for frac in (0, 0.5, 1):
        y = H - PAD_B - frac * (H - PAD_B - PAD_T)
        out.append(f'<line x1="{PAD_L}" x2="{W}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#555">'
                   f'{escape(fmt(ymax * frac))}</text>')
    return out


def _labels(times: list[datetime], fmt: str, every: int, W: int, H: int) -> list[str]:
    n, out = len(times), []
    step = (W - PAD_L) / max(n, 1)
    for i, t in enumerate(times):
        if i % every == 0:
            x = PAD_L + step * (i + 0.5)
            out.append(f'<text x="{x:.1f}" y="{H - 6}" text-anchor="middle" fill="#555">'
                       f'{escape(t.strftime(fmt))}</text>')
    return out


def stacked_bars(title: str, times: list[datetime], stacks: dict[str, list[int]],
                 label_fmt: str = "%H:%M", every: int = 3, W: int = 1200, H: int = 200) -> Markup:
    """Bars per period, one colour per series, stacked bottom-up in the given order."""
    n = len(times)
    totals = [sum(s[i] for s in stacks.values()) for i in range(n)]
    ymax = max(totals + [1])
    step = (W - PAD_L) / max(n, 1)
    scale = (H - PAD_B - PAD_T) / ymax
    body = _axis(ymax, lambda v: f"{v:.0f}", W, H)
    for i in range(n):
        y = H - PAD_B
        for name, values in stacks.items():
            h = values[i] * scale
            if h > 0:
                y -= h
                body.append(f'<rect x="{PAD_L + step * i + 1:.1f}" y="{y:.1f}" width="{max(step - 2, 1):.1f}" '
                            f'height="{h:.1f}" fill="{COLOURS.get(name, "#888")}">'
                            f'<title>{escape(times[i].strftime(label_fmt))}: {values[i]} {escape(name)}</title></rect>')
    body += _labels(times, label_fmt, every, W, H)
    return _frame(title, body, W, H)


def rate_line(title: str, times: list[datetime], rates: list[float | None], warn: float,
              critical: float, label_fmt: str = "%H:%M", every: int = 3, W: int = 640,
              H: int = 180) -> Markup:
    """A rate per period (None: too little mail to tell) with the warning and critical
    thresholds drawn as dashed lines."""
    known = [r for r in rates if r is not None]
    ymax = max(known + [critical * 1.25])
    step = (W - PAD_L) / max(len(times), 1)
    scale = (H - PAD_B - PAD_T) / ymax

    def y_of(v: float) -> float:
        return H - PAD_B - v * scale

    body = _axis(ymax, lambda v: f"{v * 100:.2g}%", W, H)
    for name, level in (("warn", warn), ("critical", critical)):
        y = y_of(level)
        body.append(f'<line x1="{PAD_L}" x2="{W}" y1="{y:.1f}" y2="{y:.1f}" stroke="{COLOURS[name]}" '
                    f'stroke-dasharray="6 4" stroke-width="1.5"/>')
        body.append(f'<text x="{W - 4}" y="{y - 3:.1f}" text-anchor="end" fill="{COLOURS[name]}">'
                    f'{"warning" if name == "warn" else "critical"} {level * 100:.2g}%</text>')
    points = [(PAD_L + step * (i + 0.5), y_of(r)) for i, r in enumerate(rates) if r is not None]
    if len(points) > 1:
        body.append('<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>'.format(
            COLOURS["line"], " ".join(f"{x:.1f},{y:.1f}" for x, y in points)))
    for (x, y), r, t in zip(points, [r for r in rates if r is not None],
                            [t for t, r in zip(times, rates) if r is not None]):
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{COLOURS["line"]}">'
                    f'<title>{escape(t.strftime(label_fmt))}: {r * 100:.2f}%</title></circle>')
    body += _labels(times, label_fmt, every, W, H)
    return _frame(title, body, W, H)
